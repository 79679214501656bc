"""The README's demo picture: a model's detections at the deployment threshold on one val image per NEU-DET class,
drawn as ``grace-edge predict`` draws them, tiled 3 x 2 into ``docs/demo_predict.jpg``.

The image of each class is the first val image of that class (sorted by name) — not picked for looking good. Each tile
is titled with the file name and the labelled classes, so a reader can compare boxes with the truth.

    python benchmarks/demo_image.py export/grace-n-128-raw200x200x1.onnx --data datasets/neu-det/data.yaml
"""

from __future__ import annotations

import argparse
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("artifact", help=".onnx or .engine to run")
    p.add_argument("--data", required=True, help="data YAML from 'grace-edge data neu-det' (its val split is used)")
    p.add_argument("--conf", type=float, default=0.25, help="deployment score threshold (default 0.25)")
    p.add_argument("--out", default=str(REPO / "docs" / "demo_predict.jpg"))
    a = p.parse_args()

    import cv2
    import numpy as np

    from grace_edge.evaluate.groundtruth import read_split
    from grace_edge.io import write_bytes
    from grace_edge.runtime import Detector
    from grace_edge.runtime.draw import draw_detections
    from grace_edge.runtime.predict import DRAW_MIN_SIDE

    split = read_split(a.data, "val")
    first: dict[str, object] = {}
    for im in sorted(split.images, key=lambda im: im.name):
        first.setdefault(im.name.rsplit("_", 1)[0], im)
    tiles = []
    with Detector.open(a.artifact, conf=a.conf) as det:
        for cls, im in sorted(first.items()):
            gray = cv2.imread(str(im.path), cv2.IMREAD_GRAYSCALE)
            found = det.detect(gray)[0]
            tile = draw_detections(gray, found, min_side=DRAW_MIN_SIDE // 2)
            truth = sorted({split.names[int(c)] for c in im.classes})
            band = np.full((26, tile.shape[1], 3), 255, np.uint8)
            cv2.putText(band, f"{im.name}  truth: {', '.join(truth)}", (4, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.42,
                        (0, 0, 0), 1, cv2.LINE_AA)
            tiles.append(np.vstack([band, tile]))
            print(f"{im.name}: truth {truth}; found " + (", ".join(f"{d.class_name} {d.score:.2f}" for d in found) or "nothing"))
    rows = [np.hstack(tiles[i:i + 3]) for i in range(0, len(tiles), 3)]
    ok, jpg = cv2.imencode(".jpg", np.vstack(rows), [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    print("wrote", write_bytes(a.out, jpg.tobytes()))


if __name__ == "__main__":
    main()
