"""moto's S3 endpoint, serving one request at a time.

moto checks If-Match / If-None-Match and then writes in two separate steps without a
lock. Under its usual threaded server two racing conditional PUTs can both pass the
check, a lost update that S3's atomic conditional writes never allow (seen here: 479 of
480 increments in a 16-writer race). One request at a time restores S3's per-request
atomicity, which the store's race tests rely on.

usage: python moto_serial.py HOST PORT
"""

import sys

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple

host, port = sys.argv[1], int(sys.argv[2])
app = DomainDispatcherApplication(create_backend_app)
run_simple(host, port, app, threaded=False, request_handler=MotoRequestHandler)
