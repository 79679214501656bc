"""GRACE model definition: YOLO11 plus Lite-FEN on the P3 map between neck and head."""
