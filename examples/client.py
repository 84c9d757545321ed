#!/usr/bin/env python3
"""A gradloom client in plain Python: submit a job, follow its epochs, load the trained checkpoint into torch.

    pip install torch safetensors      (safetensors is optional: without it the file is read by read_safetensors below)
    python3 examples/client.py examples/linear_regression.json
    python3 examples/client.py examples/two_layer_net.json --url http://127.0.0.1:8080 --api-key KEY

Only the standard library talks to the server. It follows the job by polling GET /v1/jobs/:id/metrics?from=N (the
WebSocket stream carries the same epochs, but Python's standard library has no WebSocket client), printing
`epoch loss` lines as the job's PyTorch script (GET /v1/jobs/:id/pytorch) does, so the two outputs can be diffed.
When the job succeeds it saves the checkpoint as <id>.safetensors, loads it with load_state_dict(strict=True) into
the equivalent torch module, and checks the module's predictions against POST /v1/jobs/:id/predictions.
"""
import argparse
import json
import os
import struct
import sys
import time
import urllib.error
import urllib.request

TERMINAL = ("succeeded", "failed", "cancelled")


class Api:
    def __init__(self, url, api_key):
        self.url = url.rstrip("/")
        self.api_key = api_key

    def request(self, method, path, body=None):
        """The response's bytes; an API error exits with its code and message (every error is {error, message})."""
        headers = {"authorization": "Bearer " + self.api_key} if self.api_key else {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=60) as response:
                return response.read()
        except urllib.error.HTTPError as err:
            try:
                problem = json.loads(err.read())
                detail = f"{problem.get('error')}: {problem.get('message')}"
            except ValueError:
                detail = err.reason
            sys.exit(f"{method} {path} -> HTTP {err.code} {detail}")
        except urllib.error.URLError as err:
            sys.exit(f"cannot reach {self.url}: {err.reason} (is `gradloom serve` running? --url sets the address)")

    def json(self, method, path, body=None):
        return json.loads(self.request(method, path, body))


def follow(api, job_id, poll_seconds=0.25):
    """Prints each epoch once, in order, until the job ends; returns the job's final record."""
    next_epoch = 1
    while True:
        job = api.json("GET", f"/v1/jobs/{job_id}")
        # Read the metrics after the status: a job seen as ended has all its epochs in them.
        for e in api.json("GET", f"/v1/jobs/{job_id}/metrics?from={next_epoch}")["epochs"]:
            print(e["epoch"], e["loss"] if e.get("valLoss") is None else f"{e['loss']} {e['valLoss']}", flush=True)
            next_epoch = e["epoch"] + 1
        if job["status"] in TERMINAL:
            return job
        time.sleep(poll_seconds)


def read_safetensors(data):
    """A safetensors file as {name: tensor} with only the standard library and torch (gradloom writes F32 only)."""
    import torch

    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    body = data[8 + size:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise ValueError(f"{name}: dtype {info['dtype']}; this reader knows F32 only")
        begin, end = info["data_offsets"]
        tensors[name] = torch.frombuffer(bytearray(body[begin:end]), dtype=torch.float32).reshape(info["shape"])
    return tensors


def load_checkpoint(path):
    """safetensors.torch.load_file when the package is installed, else read_safetensors. Returns (tensors, reader)."""
    if not os.environ.get("GRADLOOM_NO_SAFETENSORS"):
        try:
            from safetensors.torch import load_file
            return load_file(path), "safetensors.torch.load_file"
        except ImportError:
            pass
    with open(path, "rb") as f:
        return read_safetensors(f.read()), "read_safetensors (the safetensors package is not installed)"


def torch_module(model):
    """The torch module whose state dict a gradloom checkpoint is, for the job's model spec."""
    import torch.nn as nn

    if model["kind"] == "linear_regression":
        return nn.Linear(model["inputDim"], model["outputDim"])
    bias = model.get("bias", False)
    return nn.Sequential(nn.Linear(model["inputDim"], model["hiddenDim"], bias=bias), nn.ReLU(),
                         nn.Linear(model["hiddenDim"], model["outputDim"], bias=bias))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("spec", help="a JSON job spec, e.g. examples/linear_regression.json")
    parser.add_argument("--url", default=os.environ.get("GRADLOOM_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--api-key", default=os.environ.get("GRADLOOM_API_KEY"))
    parser.add_argument("-o", "--output", help="where to save the checkpoint (default <id>.safetensors)")
    args = parser.parse_args()

    with open(args.spec) as f:
        spec = json.load(f)
    api = Api(args.url, args.api_key)
    job = api.json("POST", "/v1/jobs", spec)
    print(f"submitted {job['id']}", file=sys.stderr)
    job = follow(api, job["id"])
    if job["status"] != "succeeded":
        error = job.get("error") or {}
        sys.exit(f"job {job['id']} {job['status']}: {error.get('message', '')}")
    print(f"job {job['id']} succeeded: {job['epoch']} epochs, last loss {job['lastLoss']}", file=sys.stderr)

    path = args.output or f"{job['id']}.safetensors"
    with open(path, "wb") as f:
        f.write(api.request("GET", f"/v1/jobs/{job['id']}/checkpoint"))
    try:
        import torch
    except ImportError:
        print(f"saved {path}; install torch (pip install torch) to load it", file=sys.stderr)
        return

    state, reader = load_checkpoint(path)
    module = torch_module(job["spec"]["model"])
    module.load_state_dict(state, strict=True)
    print(f"loaded {path} with {reader}: " + ", ".join(f"{k} {list(v.shape)}" for k, v in state.items()), file=sys.stderr)

    # The same rows through torch and through the server: the checkpoint is the model the server serves.
    # (The job keeps inline rows apart from itself: GET /v1/jobs/:id/data pages them back.)
    if job["spec"]["data"]["kind"] == "inline":
        x = torch.tensor(api.json("GET", f"/v1/jobs/{job['id']}/data?limit=3")["x"], dtype=torch.float32)
    else:
        x = torch.randn(3, job["spec"]["model"]["inputDim"], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = module(x)
    theirs = torch.tensor(api.json("POST", f"/v1/jobs/{job['id']}/predictions", {"x": x.tolist()})["y"])
    scale = max(1.0, theirs.abs().max().item())
    print(f"predictions: torch {ours[0].tolist()} server {theirs[0].tolist()}; "
          f"max difference {(ours - theirs).abs().max().item() / scale:.3g} (relative)", file=sys.stderr)


if __name__ == "__main__":
    main()
