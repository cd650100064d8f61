"""What the README and docs/ state, checked against its source: the sample answer against the served
graph, the accuracy against the test report, the pod's resources against the manifest, the serving figures
against config/config.properties, every link."""

import json
import re

import pytest
import yaml

from mnist_handler import forward, onnx_session
from request_pipeline import prepare_request
from tests.conftest import SEVEN_PNG
from torchserve_runner import REPO, served_graph, serving_config
from wire_format import answers

README = (REPO / "README.md").read_text()
DOCS = {path.name: path.read_text() for path in (REPO / "docs").glob("*.md")}
BENCH_README = (REPO / "bench" / "README.md").read_text()
OPENAPI = (REPO / "auth_proxy" / "public" / "openapi.yaml").read_text()
SERVING = serving_config()
# The phrases that state the project's serving config, with what config/config.properties says they must
# read. (Earlier settings in the records of experiments are worded otherwise: "8/5", "the 5 ms delay".)
STATED_SETTINGS = {
    r"batch(?:ing)? (\d+) / (\d+) ms": (SERVING.batch_size, SERVING.max_batch_delay_ms),
    r"batching of up to (\d+) requests\s+or\s+(\d+) ms": (SERVING.batch_size, SERVING.max_batch_delay_ms),
    r"project: batchSize (\d+), maxBatchDelay (\d+)": (SERVING.batch_size, SERVING.max_batch_delay_ms),
    r"the (\d+) ms TorchServe waits": (SERVING.max_batch_delay_ms,),
    r"(\d+) workers with one torch\s+thread": (SERVING.workers,),
    r"(\d+) workers, batches\s+of\s+up\s+to\s+(\d+)": (SERVING.workers, SERVING.batch_size),
    r"(\d+) s response\s+timeout": (SERVING.response_timeout_s,),
    r"`responseTimeout` (\d+) s": (SERVING.response_timeout_s,),
    r"(\d+) MiB request\s+cap": (SERVING.max_request_size // 2**20,),
    r"at most (\d+) MiB a\s+request": (SERVING.max_request_size // 2**20,),
    r"(\d+) requests queued": (SERVING.job_queue_size,),
    r"job_queue_size=(\d+)": (SERVING.job_queue_size,),
    r"(\d+) Netty threads": (SERVING.netty_threads,),
}


def test_the_sample_response_is_the_served_graph_s_answer_for_seven_png(model_store, tmp_path):
    """What the server answers: the archive's (int8) graph, through the handler's own steps."""
    (sample,) = re.findall(r"### Response\n\n```json\n(.+)\n```", README)
    prepared = prepare_request({"body": SEVEN_PNG})
    (expected,) = answers(
        [prepared], forward(onnx_session(str(served_graph(model_store, tmp_path))), [prepared.tensors])
    )
    stated = json.loads(sample)
    assert stated["digit"] == expected["digit"]
    assert stated["probabilities"] == pytest.approx(expected["probabilities"], abs=2e-6)


def test_the_accuracy_stated_is_the_test_report_s():
    report = json.loads((REPO / "model" / "test_report.json").read_text())
    stated = f"**{report['accuracy'] * 100:.2f} %**"
    for text in (README, DOCS["model.md"]):
        assert f"{stated} " in text and f"({report['errors']} errors" in text


def test_the_pod_s_resources_stated_are_the_manifest_s():
    deployment = yaml.safe_load((REPO / "k8s" / "deployment.yaml").read_text())
    limits = {c["name"]: c["resources"]["limits"] for c in deployment["spec"]["template"]["spec"]["containers"]}
    torchserve, proxy = limits["torchserve"], limits["auth-proxy"]
    stated = (
        f"TorchServe {torchserve['cpu']} CPU / {torchserve['memory'].replace('Gi', ' GiB')}, "
        f"proxy {proxy['cpu']} / {proxy['memory'].replace('Mi', ' MiB')}"
    )
    assert stated in DOCS["kubernetes.md"]


@pytest.mark.parametrize("pattern, expected", STATED_SETTINGS.items(), ids=list(STATED_SETTINGS))
def test_every_serving_setting_stated_is_the_config_s(pattern, expected):
    """Each phrase is found at least once, and says what the config says wherever it is found."""
    texts = {
        "README.md": README,
        "bench/README.md": BENCH_README,
        "openapi.yaml": OPENAPI,
        **{f"docs/{n}": t for n, t in DOCS.items()},
    }
    found = [(name, match) for name, text in texts.items() for match in re.finditer(pattern, text)]
    assert found, f"no text states {pattern!r} any more: reword the check or the text"
    for name, match in found:
        assert tuple(map(int, match.groups())) == expected, f"{name}: {match.group(0)!r}, the config: {expected}"


@pytest.mark.parametrize("name, text", [("README.md", README), *sorted(DOCS.items())])
def test_every_relative_link_leads_to_a_file(name, text):
    base = REPO if name == "README.md" else REPO / "docs"
    for target in re.findall(r"\]\((?!https?:)([^)#]+)", text):
        assert (base / target).exists(), f"{name} links to {target}, which does not exist"
