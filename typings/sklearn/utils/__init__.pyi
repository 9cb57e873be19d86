from typing import Any

import numpy as np
import numpy.typing as npt

class Bunch(dict[str, Any]):
    data: npt.NDArray[np.float64]
    target: npt.NDArray[np.int64]
    def __getattr__(self, key: str) -> Any: ...
