"""Peers for the benchmark: the same model behind other serving stacks, with the project's request pipeline,
or with the seed's own (seed_app.py).

fastapi_app.py   FastAPI + uvicorn[standard] (httptools, uvloop), 2 worker processes, one forward per request
litserve_app.py  LitServe, 2 inference workers, the project's dynamic batching (config/config.properties)
seed_app.py      the seed's own design: FastAPI, grey + resize to 28x28, eager torch (no project preprocessing)
servers.py       starts and stops them on free 127.0.0.1 ports (a session of their own, stopped for sure)
common.py        fastapi_app's and litserve_app's share of the handler: prepare_request, load_model, its answer
"""
