"""Small file helpers shared by the format readers."""

import json
from pathlib import Path


def read_json_file(path, error_type, what):
    """Reads a JSON file, with errors that name the file.

    Args:
        path: the file.
        error_type: the exception class to raise for a file that is not JSON.
        what: what the file is, for the messages (e.g. ``"checkpoint index"``).

    Returns:
        The decoded JSON value.

    Raises:
        FileNotFoundError: the file does not exist.
        error_type: the file is not valid UTF-8 JSON.
    """
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} not found: {path}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise error_type(f"{path}: corrupted {what}: not valid JSON ({error})") from None
