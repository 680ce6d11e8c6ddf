"""tapegrad.vision.datasets: datasets like ``torchvision.datasets``, read from local files.

Nothing is ever downloaded (``download=True`` only works when the files are in place).
MNIST/FashionMNIST/KMNIST read IDX files, CIFAR10/CIFAR100 the python batches (through
a restricted unpickler), ImageFolder a folder per class, Digits scikit-learn's 8x8 digits.
Image datasets return PIL images when Pillow is installed (as torchvision does) and
NumPy arrays otherwise; tapegrad's transforms accept both.
"""
from .cifar import CIFAR10, CIFAR100
from .digits import Digits
from .fakedata import FakeData
from .folder import IMG_EXTENSIONS, DatasetFolder, ImageFolder, default_loader
from .mnist import KMNIST, MNIST, FashionMNIST
from .vision import StandardTransform, VisionDataset

__all__ = [
    "CIFAR10", "CIFAR100", "DatasetFolder", "Digits", "FakeData", "FashionMNIST", "IMG_EXTENSIONS",
    "ImageFolder", "KMNIST", "MNIST", "StandardTransform", "VisionDataset", "default_loader",
]
