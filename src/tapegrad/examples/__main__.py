"""``python -m tapegrad.examples``: list the examples and how to run them."""
from tapegrad.examples import EXAMPLES

print("tapegrad examples (run one with `python -m tapegrad.examples.<name> --help`):")
for name, what in EXAMPLES.items():
    print(f"  {name:8s} {what}")
