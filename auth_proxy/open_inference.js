// The Open Inference Protocol's state endpoints, answered from TorchServe's own state. TorchServe 0.12 serves
// none of them over HTTP unless its whole OIP mode is on, and then answers readiness with a fixed true;
// inference itself (POST /v2/models/mnist/infer) goes to the handler in any mode.
// Live and ready mean what the pod's probes mean (scripts/model_ready.py): live, the frontend answers /ping;
// ready, at least one of the model's workers is READY (from the management API).

const MODEL = 'mnist';

// The tensors the handler takes and gives (handler/open_inference.py; auth_proxy/public/openapi.yaml).
const INPUTS = [
    {name: 'images', datatype: 'BYTES', shape: [-1]},
    {name: 'pixels', datatype: 'FP32', shape: [-1, 1, 28, 28]},
];
const OUTPUTS = [
    {name: 'probabilities', datatype: 'FP32', shape: [-1, 10]},
    {name: 'digit', datatype: 'INT64', shape: [-1]},
];

function answer(r, status, body) {
    r.headersOut['Content-Type'] = 'application/json';
    r.return(status, JSON.stringify(body));
}

// TorchServe's description of the model, or null when the management API does not answer it.
async function described(r) {
    const reply = await r.subrequest('/_torchserve_model');
    if (reply.status !== 200) {
        return null;
    }
    return JSON.parse(reply.responseText)[0];
}

function readyWorkers(description) {
    return description.workers.filter((worker) => worker.status === 'READY').length;
}

function unavailable(r, error) {
    r.error(`the model's state could not be read: ${error}`);
    answer(r, 503, {error: 'the model server is not answering; retry'});
}

async function serverLive(r) {
    try {
        const live = (await r.subrequest('/_torchserve_ping')).status === 200;
        answer(r, live ? 200 : 503, {live});
    } catch (error) {
        unavailable(r, error);
    }
}

// 200 with {...fields, ready: true} when a worker is READY, else 503 with ready: false.
async function readiness(r, fields) {
    try {
        const description = await described(r);
        const ready = description !== null && readyWorkers(description) > 0;
        answer(r, ready ? 200 : 503, Object.assign({}, fields, {ready}));
    } catch (error) {
        unavailable(r, error);
    }
}

const serverReady = (r) => readiness(r, {});
const modelReady = (r) => readiness(r, {name: MODEL});

async function modelMetadata(r) {
    try {
        const description = await described(r);
        if (description === null) {
            answer(r, 503, {error: 'the model is not registered yet; retry'});
            return;
        }
        answer(r, 200, {
            name: MODEL,
            versions: [description.modelVersion],
            platform: 'pytorch_torchserve',
            inputs: INPUTS,
            outputs: OUTPUTS,
        });
    } catch (error) {
        unavailable(r, error);
    }
}

// The location's path (k8s/auth-proxy.conf.template sends exactly these here) -> its answer.
const ANSWERS = {
    '/v2/health/live': serverLive,
    '/v2/health/ready': serverReady,
    '/v2/models/mnist/ready': modelReady,
    '/v2/models/mnist': modelMetadata,
};

function state(r) {
    return ANSWERS[r.uri](r);
}

export default {state};
