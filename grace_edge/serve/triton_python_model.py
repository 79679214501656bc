"""Triton python-backend model that runs a grace-edge artifact with grace-edge's own runtime.

``grace-edge triton-repo --backend python`` copies this file to ``<model>/<version>/model.py`` next to the artifact
(``artifact.onnx`` or ``artifact.engine``). It keeps the graph's contract, so a client cannot tell it from Triton's
onnxruntime or tensorrt backend: input ``images`` as the graph takes it, outputs ``detections`` [B, max_det, 6] and
``num_detections`` [B]. It runs the same backend :class:`~grace_edge.runtime.Detector` runs (the host-side checks and
postprocessing happen in the client, :class:`~grace_edge.serve.RemoteDetector`), on every request Triton's dynamic
batcher put into one call, in chunks of at most the artifact's max batch.

The server's Python needs grace-edge installed (and numpy < 2 for the stub of Triton <= 2.5x: with numpy 2 the
stub returns empty outputs without an error).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils  # provided by Triton's python backend stub

from grace_edge.artifact import INPUT_NAME, OUTPUT_COUNT, OUTPUT_DETECTIONS


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        from grace_edge.runtime.backends import open_backend
        from grace_edge.runtime.options import RuntimeOptions

        config = json.loads(args["model_config"])
        folder = Path(args["model_repository"]) / args["model_version"]
        found = sorted(folder.glob("artifact.*"))
        if len(found) != 1:
            raise pb_utils.TritonModelException(f"{folder}: expected one artifact.onnx or artifact.engine")
        kind = args.get("model_instance_kind", "CPU")
        device = f"cuda:{args.get('model_instance_device_id', '0')}" if kind == "GPU" else "auto"
        self.backend = open_backend(found[0], RuntimeOptions(device=device))
        self.slot = self.backend.create_slot()
        self.max_batch = min(self.backend.max_batch, int(config.get("max_batch_size") or self.backend.max_batch))

    def execute(self, requests: list) -> list:
        inputs = [pb_utils.get_input_tensor_by_name(r, INPUT_NAME).as_numpy() for r in requests]
        sizes = [len(x) for x in inputs]
        batch = np.concatenate(inputs) if len(inputs) > 1 else inputs[0]
        detections, counts = [], []
        for start in range(0, len(batch), self.max_batch):
            chunk = batch[start : start + self.max_batch]
            n = len(chunk)
            run_n = max(n, self.backend.min_batch)  # a static-batch graph gets zero rows as padding
            buffer = self.slot.input_buffer(run_n)
            buffer[:n] = chunk
            buffer[n:] = 0
            dets, cnts, _ = self.slot.run(run_n)
            detections.append(dets[:n].copy())  # copy: the slot's buffers are reused by the next run
            counts.append(cnts[:n].astype(np.int32))
        detections_all, counts_all = np.concatenate(detections), np.concatenate(counts)
        responses, start = [], 0
        for size in sizes:
            responses.append(pb_utils.InferenceResponse(output_tensors=[
                pb_utils.Tensor(OUTPUT_DETECTIONS, detections_all[start : start + size]),
                pb_utils.Tensor(OUTPUT_COUNT, counts_all[start : start + size]),
            ]))
            start += size
        return responses

    def finalize(self) -> None:
        self.slot.close()
        self.backend.close()
