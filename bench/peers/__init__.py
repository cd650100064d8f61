"""Peers for the benchmark: the same model and the same request pipeline behind other serving stacks.

fastapi_app.py   FastAPI + uvicorn[standard] (httptools, uvloop), 2 worker processes, one forward per request
litserve_app.py  LitServe, 2 inference workers, the project's dynamic batching (config/config.properties)
servers.py       starts and stops them on free 127.0.0.1 ports (a session of their own, stopped for sure)
common.py        what both share with the handler: prepare_request, load_model, the handler's JSON answer
"""
