"""Image separation: an MNIST digit and a Fashion-MNIST clothing item, averaged into one image."""
