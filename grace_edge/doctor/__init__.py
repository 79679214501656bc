"""``grace-edge doctor``: what this machine has (driver, CUDA, TensorRT, pycuda, cuda-python, ONNX Runtime, GPU,
JetPack, power mode) and, on a GPU, a self-test that builds and runs a small engine with every feature of ours."""
