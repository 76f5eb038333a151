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
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} not found: {path}") from None
    return parse_json(data, error_type, f"{path}: corrupted {what}")


def parse_json(data, error_type, where):
    """Decodes UTF-8 JSON bytes; `error_type` naming `where` for anything that is not plain JSON.

    Besides invalid JSON and bytes that are not UTF-8, that is JSON nested too deeply for the parser
    (a RecursionError) and integers of more than Python's 4300 digits (a ValueError that names nothing).
    """
    try:
        return json.loads(data.decode("utf-8"))
    except RecursionError:
        raise error_type(f"{where}: not valid JSON (nested too deeply)") from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, an integer of too many digits
        raise error_type(f"{where}: not valid UTF-8 JSON ({error})") from None
