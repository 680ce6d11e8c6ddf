"""Containers: ``Sequential``, ``ModuleList``, ``ModuleDict``, ``ParameterList``, ``ParameterDict``.

The positional containers keep their children in ``_modules`` (or as attributes)
under the keys ``"0"``, ``"1"``, ...; all index arithmetic (negative indices, range
checks, slices, renumbering after a deletion) goes through ``_Indexed`` so that the
list-like classes only say where their items live.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from ...tensor import Tensor
from ..parameter import Parameter
from .module import Module


def _position(idx, length):
    """``idx`` as a position in ``range(length)``; PyTorch's IndexError otherwise."""
    if not -length <= idx < length:
        raise IndexError(f"index {idx} is out of range")
    return idx % length


def _as_parameter(value):
    # Plain tensors stored in a parameter container become Parameters; other objects stay.
    if isinstance(value, Tensor) and not isinstance(value, Parameter):
        return Parameter(value)
    return value


def _pairs(items, owner):
    """The (key, value) pairs of a mapping or of an iterable of pairs, validated."""
    if isinstance(items, (Mapping, ModuleDict, ParameterDict)):
        return list(items.items())
    pairs = []
    for n, pair in enumerate(items):
        if not hasattr(pair, "__iter__") or isinstance(pair, (str, Module)):
            raise TypeError(f"{owner} update sequence element #{n} should be Iterable; is"
                            + type(pair).__name__)
        pair = tuple(pair)
        if len(pair) != 2:
            raise ValueError(f"{owner} update sequence element #{n} has length {len(pair)}; 2 is required")
        pairs.append(pair)
    return pairs


def _tensor_line(key, value, type_name):
    """One line of a parameter container's repr."""
    if not isinstance(value, Tensor):
        return f"  ({key}): Object of type: {type(value).__name__}"
    size = "x".join(str(n) for n in value.shape)
    return f"  ({key}): Parameter containing: [{type_name(value)} of size {size}]"


class _Indexed(Module):
    """Shared read-only list behaviour and appending for containers indexed by position."""

    def _items(self):
        """The items in order (subclasses say where they live)."""
        raise NotImplementedError

    def __len__(self):
        return len(self._items())

    def __iter__(self):
        return iter(self._items())

    def __getitem__(self, idx):
        items = self._items()
        if isinstance(idx, slice):
            return self._from_slice(idx, items)
        return items[_position(idx, len(items))]

    def _from_slice(self, idx, items):
        return type(self)(items[idx])

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for module in modules:
            self.append(module)
        return self


class _ModuleSequence(_Indexed):
    """Module children under the keys "0", "1", ...: deletion and insertion renumber them."""

    def _items(self):
        return list(self._modules.values())

    def _store(self, items):
        self._modules.clear()
        for i, module in enumerate(items):
            self._modules[str(i)] = module

    def __delitem__(self, idx):
        items = self._items()
        if isinstance(idx, slice):
            del items[idx]
        else:
            del items[_position(idx, len(items))]
        self._store(items)

    def pop(self, key):
        value = self[key]
        del self[key]
        return value

    def insert(self, index, module):
        items = self._items()
        items.insert(index, module)
        self._store(items)


class Sequential(_ModuleSequence):
    """Runs its modules in order, each on the previous one's output.

    ``Sequential(m0, m1, ...)`` names the children ``"0"``, ``"1"``, ...;
    ``Sequential(OrderedDict(name=module, ...))`` keeps the given names.

    >>> net = Sequential(Linear(4, 8), ReLU(), Linear(8, 2))
    >>> net(tapegrad.ones(3, 4)).shape
    torch.Size([3, 2])
    """

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            named = args[0].items()
        else:
            named = ((str(i), module) for i, module in enumerate(args))
        for name, module in named:
            self.add_module(name, module)

    def _from_slice(self, idx, items):
        # a slice keeps the children's names
        return Sequential(OrderedDict(list(self._modules.items())[idx]))

    def __setitem__(self, idx, module):
        key = list(self._modules)[_position(idx, len(self))]
        setattr(self, key, module)

    def insert(self, index, module):
        if not isinstance(module, Module):
            raise AssertionError(f"module should be of type: {Module}")
        if not -len(self) <= index <= len(self):
            raise IndexError(f"Index out of range: {index}")
        super().insert(index, module)
        return self

    def extend(self, sequential):
        return super().extend(list(sequential))

    def _check_sequential(self, other):
        if not isinstance(other, Sequential):
            raise ValueError("add operator supports only objects of Sequential class, but "
                             f"{type(other)} is given.")

    def __add__(self, other):
        self._check_sequential(other)
        return Sequential(*self, *other)

    def __iadd__(self, other):
        self._check_sequential(other)
        return self.extend(other)

    def _repeats(self, count):
        if not isinstance(count, int):
            raise TypeError(f"unsupported operand type(s) for *: {type(self)} and {type(count)}")
        if count <= 0:
            raise ValueError(f"Non-positive multiplication factor {count} for {type(self)}")
        return list(self) * count

    def __mul__(self, count):
        return Sequential(*self._repeats(count))

    __rmul__ = __mul__

    def __imul__(self, count):
        self._store(self._repeats(count))
        return self

    def forward(self, input):
        for module in self:
            input = module(input)
        return input


def _compressed_lines(modules):
    """Repr lines of a ModuleList: runs of identical children print once, as ``(i-j): n x ...``."""
    lines = []
    reprs = [repr(m) for m in modules]
    start = 0
    while start < len(reprs):
        stop = start
        while stop + 1 < len(reprs) and reprs[stop + 1] == reprs[start]:
            stop += 1
        body = reprs[start].replace("\n", "\n  ")
        if stop == start:
            lines.append(f"({start}): {body}")
        else:
            lines.append(f"({start}-{stop}): {stop - start + 1} x {body}")
        start = stop + 1
    return lines


class ModuleList(_ModuleSequence):
    """A list of modules whose parameters the parent module sees; it has no ``forward``.

    Supports indexing, slicing, ``del``, ``append``, ``extend``, ``insert``, ``pop``,
    ``+`` and ``+=``.
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self += modules

    def __setitem__(self, idx, module):
        setattr(self, str(_position(idx, len(self))), module)

    def __iadd__(self, modules):
        return self.extend(modules)

    def __add__(self, other):
        return ModuleList([*self, *other])

    def extend(self, modules):
        if not hasattr(modules, "__iter__"):
            raise TypeError("ModuleList.extend should be called with an iterable, but got "
                            + type(modules).__name__)
        return super().extend(modules)

    def insert(self, index, module):
        super().insert(index, module)

    def __repr__(self):
        lines = _compressed_lines(self)
        if not lines:
            return self._get_name() + "()"
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"


class ModuleDict(Module):
    """An ordered dict of modules whose parameters the parent module sees.

    >>> heads = ModuleDict({"cls": Linear(8, 10), "box": Linear(8, 4)})
    >>> list(heads)
    ['cls', 'box']
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def clear(self):
        self._modules.clear()

    def pop(self, key):
        module = self[key]
        del self[key]
        return module

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()

    def update(self, modules):
        if not hasattr(modules, "__iter__"):
            raise TypeError("ModuleDict.update should be called with an iterable of key/value pairs, "
                            "but got " + type(modules).__name__)
        for key, module in _pairs(modules, "ModuleDict"):
            self[key] = module


class ParameterList(_Indexed):
    """A list of parameters (tensors are wrapped as Parameters) the parent module sees.

    Non-tensor objects may be stored too; they are kept but are not parameters.
    """

    def __init__(self, values=None):
        super().__init__()
        self._size = 0
        if values is not None:
            self += values

    def _items(self):
        return [getattr(self, str(i)) for i in range(self._size)]

    def __setitem__(self, idx, param):
        setattr(self, str(_position(idx, self._size)), _as_parameter(param))

    def __iadd__(self, values):
        return self.extend(values)

    def append(self, value):
        self._size += 1
        self[self._size - 1] = value
        return self

    def extend(self, values):
        if not hasattr(values, "__iter__") or isinstance(values, Tensor):
            raise TypeError("ParameterList.extend should be called with an iterable, but got "
                            + type(values).__name__)
        return super().extend(values)

    def extra_repr(self):
        return "\n".join(_tensor_line(i, value, lambda t: str(t.dtype)) for i, value in enumerate(self))


class ParameterDict(Module):
    """An ordered dict of parameters (tensors are wrapped as Parameters).

    As in PyTorch, a plain ``dict`` given to the constructor or ``update`` is added in
    sorted key order; an ``OrderedDict``, a ``ParameterDict`` or a list of pairs keeps
    its order.
    """

    def __init__(self, parameters=None):
        super().__init__()
        self._keys = {}
        if parameters is not None:
            self.update(parameters)

    @staticmethod
    def _check_key(key):
        if not isinstance(key, str):
            raise TypeError("Index given to ParameterDict cannot be used as a key as it is not a string "
                            f"(type is '{type(key).__name__}'). Open an issue on github if you need "
                            "non-string keys.")
        return key

    def __getitem__(self, key):
        return getattr(self, self._check_key(key))

    def __setitem__(self, key, value):
        self._keys[self._check_key(key)] = None
        setattr(self, key, _as_parameter(value))

    def __delitem__(self, key):
        del self._keys[key]
        delattr(self, key)

    def __len__(self):
        return len(self._keys)

    def __iter__(self):
        return iter(self._keys)

    def __reversed__(self):
        return reversed(list(self._keys))

    def __contains__(self, key):
        return key in self._keys

    def copy(self):
        return ParameterDict(OrderedDict(self.items()))

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def clear(self):
        for key in list(self._keys):
            del self[key]

    def pop(self, key):
        value = self[key]
        del self[key]
        return value

    def popitem(self):
        key = next(reversed(self))
        return key, self.pop(key)

    def get(self, key, default=None):
        return self[key] if key in self else default  # noqa: SIM401 - this is get() itself

    @classmethod
    def fromkeys(cls, keys, default=None):
        return cls([(key, default) for key in keys])

    def keys(self):
        return self._keys.keys()

    def items(self):
        return [(key, self[key]) for key in self._keys]

    def values(self):
        return [self[key] for key in self._keys]

    def update(self, parameters):
        if not hasattr(parameters, "__iter__"):
            raise TypeError("ParametersDict.update should be called with an iterable of key/value pairs, "
                            "but got " + type(parameters).__name__)
        pairs = _pairs(parameters, "ParameterDict")
        if isinstance(parameters, Mapping) and not isinstance(parameters, (OrderedDict, ParameterDict)):
            pairs.sort(key=lambda pair: pair[0])
        for key, value in pairs:
            self[key] = value

    def __or__(self, other):
        merged = self.copy()
        merged.update(other)
        return merged

    def __ror__(self, other):
        merged = ParameterDict(other)
        merged.update(self)
        return merged

    def __ior__(self, other):
        self.update(other)
        return self

    def extra_repr(self):
        return "\n".join(_tensor_line(key, value, lambda t: t.type()) for key, value in self.items())
