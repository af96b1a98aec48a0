"""wstest with permessage-deflate on every case (run by /usr/bin/python3).

    wstest_pmd.py AUTOBAHN_DIR wstest-args...

Autobahn|Testsuite negotiates permessage-deflate only in its cases 12.* and
13.*; cases 1-10 never offer (fuzzingclient) or accept (fuzzingserver) it.
To run those cases compressed as well, this sets the factory defaults, the
same way a spec's "options" would if JSON could hold the offer and accept
objects: fuzzingclient offers a plain permessage-deflate and accepts the
server's answer; fuzzingserver accepts any permessage-deflate offer. Cases
12.*/13.* still set their own offers on the connection, so they are
unchanged. Everything else is wstest's own command line.
"""
import sys

sys.path.insert(0, sys.argv[1])
del sys.argv[1]
sys.argv[0] = "wstest"

from autobahntestsuite import wstest, fuzzing  # noqa: E402 (first: reactor)
from autobahn.websocket.compress import (  # noqa: E402
    PerMessageDeflateOffer, PerMessageDeflateOfferAccept,
    PerMessageDeflateResponse, PerMessageDeflateResponseAccept)


def client_accept(response):
    if isinstance(response, PerMessageDeflateResponse):
        return PerMessageDeflateResponseAccept(response)
    return None


def server_accept(offers):
    for offer in offers:
        if isinstance(offer, PerMessageDeflateOffer):
            return PerMessageDeflateOfferAccept(offer)
    return None


_client_reset = fuzzing.FuzzingClientFactory.resetProtocolOptions


def client_reset(self):
    # Called before each server's spec options are applied.
    _client_reset(self)
    self.setProtocolOptions(perMessageCompressionOffers=[PerMessageDeflateOffer()],
                            perMessageCompressionAccept=client_accept)


fuzzing.FuzzingClientFactory.resetProtocolOptions = client_reset

_server_init = fuzzing.FuzzingServerFactory.__init__


def server_init(self, *args, **kwargs):
    _server_init(self, *args, **kwargs)
    self.setProtocolOptions(perMessageCompressionAccept=server_accept)


fuzzing.FuzzingServerFactory.__init__ = server_init

wstest.run()
