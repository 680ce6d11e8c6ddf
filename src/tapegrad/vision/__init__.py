"""tapegrad.vision: models (and, with the data issue, datasets and transforms) like torchvision."""
from . import models  # noqa: F401
from . import datasets, transforms  # noqa: F401,E402
from . import utils  # noqa: F401,E402
