"""The preprocessing as it was before issue #11, kept only to measure against (python -m
photo_evaluation.evaluate_photos --baseline): one global background (the border's median), polarity from the
border, anything over 25 % of the peak taken as ink. Built from mnist_form's and mnist_preprocessing's own
helpers, which that change left as they were."""

import torch

from input_errors import NoDigitFound
from mnist_cnn import normalised
from mnist_form import MIN_CONTRAST, MNIST_SIDE, bright_on_dark, centre_digit
from mnist_preprocessing import blank_message, reduced, to_grey


def to_mnist_tensor(image) -> torch.Tensor:
    grey = bright_on_dark(to_grey(reduced(image)))
    if grey.shape == (MNIST_SIDE, MNIST_SIDE):
        pixels = grey if grey.max() - grey.min() >= MIN_CONTRAST else None
    else:
        pixels = centre_digit(grey)
    if pixels is None:
        raise NoDigitFound(blank_message(image.width, image.height))
    return torch.from_numpy(normalised(pixels)).to(torch.float32).unsqueeze(0)
