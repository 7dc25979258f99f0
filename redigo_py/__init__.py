"""placeholder"""
__version__ = "0.1.0"
from .errors import *  # noqa
from .conn import *  # noqa
from . import context, resp  # noqa
from .log import new_logging_conn, new_logging_conn_filter  # noqa
