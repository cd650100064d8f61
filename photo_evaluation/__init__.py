"""Photo-like pictures of MNIST test digits and the runner that scores the handler's preprocessing on them."""
