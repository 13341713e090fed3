"""Posting a webhook without reaching what it must not (server-side request forgery).

A URL's host is resolved once per hop; every address it resolves to is checked (loopback, private,
link-local, multicast, reserved, unspecified are refused unless the endpoint allows private
addresses), and the connection goes to the checked address itself, so a second DNS answer cannot
swap in another. Redirects are followed by hand, at most MAX_REDIRECTS, each checked the same way (an endpoint's
"allow private addresses" covers its own host only, never a host a redirect names).
The whole exchange has one deadline (connect, send, headers, body): a watchdog closes the socket
when it passes, so a receiver that trickles bytes cannot hold a worker. Only the first
EXCERPT_BYTES of the answer are read."""
from __future__ import annotations

import heapq
import http.client
import ipaddress
import itertools
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urljoin, urlsplit

MAX_REDIRECTS = 3
EXCERPT_BYTES = 2048
REDIRECTS = (301, 302, 303, 307, 308)


class Refused(Exception):
    """The URL may not be called: the message says why, for the admin (never retried as it is)."""


class HostNotFound(Refused):
    """DNS has no address for the host: refused when saving, worth another attempt when sending."""


class Unreachable(Exception):
    """The endpoint did not answer in time, or the connection failed: worth another attempt."""


@dataclass
class Answer:
    status: int
    elapsed_ms: int
    excerpt: str
    url: str  # the URL that answered (after redirects)


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def forbidden_address(address: str) -> str | None:
    """Why this IP address is off limits by default ("a loopback address"), or None if it is public."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):  # an IPv4 address carried inside an IPv6 one is that address
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
        elif ip.teredo is not None:
            ip = ip.teredo[1]
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved or not ip.is_global:
        return "a reserved address"
    return None


def check_url(url: str, *, allow_http: bool) -> tuple[str, str, int]:
    """The scheme, host and port of a URL we may post to; raises Refused (a message for the admin)."""
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise Refused("The address has a space, line break or control character in it; write spaces as %20.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Refused("That is not a web address we can read.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise Refused("Give a web address starting with https://.")
    if scheme == "http" and not allow_http:
        raise Refused("Use an https:// address: webhooks carry lead data, so they go over HTTPS only.")
    if not parts.hostname:
        raise Refused("The address needs a host name, such as https://example.com/hooks.")
    if parts.username or parts.password:
        raise Refused("Leave the user name and password out of the address; check the signature instead.")
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80)


PRIVATE_ADVICE = "Webhooks go to public addresses only, unless an admin allows private addresses for this endpoint."
REDIRECT_ADVICE = ("The endpoint redirected there, and its allowance of private addresses covers its own host and "
                   "port only: give the final address as the endpoint's address instead.")


def resolve(host: str, port: int, *, allow_private: bool, advice: str = PRIVATE_ADVICE) -> str:
    """The address to connect to for `host`, every one it resolves to checked; raises Refused
    (saying why, then `advice`)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise HostNotFound(f"We could not look up the host {host}: DNS has no address for it, or cannot be reached "
                           "from this server just now. Check the spelling; if it is right, try again later.") from None
    addresses = list(dict.fromkeys(info[4][0] for info in found))
    if not addresses:
        raise HostNotFound(f"We could not look up the host {host}: DNS gave no address for it.")
    if not allow_private:
        for address in addresses:
            why = forbidden_address(address)
            if why:
                what = host if host.strip("[]") == address else f"{host} resolves to {address}, which"
                raise Refused(f"{what} is {why}. {advice}")
    return addresses[0]


def check_destination(url: str, *, allow_http: bool, allow_private: bool) -> None:
    """Whether a URL may receive webhooks as things stand (scheme, host, where it resolves); raises Refused."""
    _, host, port = check_url(url, allow_http=allow_http)
    resolve(host, port, allow_private=allow_private)


@lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context()


class _Pinned(http.client.HTTPConnection):
    """A connection to an address already checked, whatever DNS says now."""

    def __init__(self, host: str, port: int, address: str, timeout: float, tls: bool):
        super().__init__(host, port, timeout=timeout)
        self.address, self.tls = address, tls
        # The socket the watchdog shuts: http.client drops `sock` once it has handed a response that
        # closes the connection (HTTP/1.0, "Connection: close") its own file, while reading goes on.
        self.watched_sock: socket.socket | None = None

    def connect(self):
        sock = socket.create_connection((self.address, self.port), self.timeout)
        if self.tls:
            sock = _tls().wrap_socket(sock, server_hostname=self.host)  # the certificate names the host
        self.sock = self.watched_sock = sock


def _why_unreachable(exc: BaseException) -> str:
    """A failed connection in words for the admin reading the delivery log."""
    if isinstance(exc, ConnectionRefusedError):
        return "The endpoint refused the connection: nothing is listening at that address and port."
    if isinstance(exc, ConnectionResetError):
        return "The endpoint closed the connection before answering."
    if isinstance(exc, ssl.SSLError):
        return "The secure connection to the endpoint failed (TLS); check its certificate and HTTPS setup."
    if isinstance(exc, http.client.HTTPException):
        return "The endpoint's answer was not valid HTTP."
    if isinstance(exc, OSError) and exc.strerror:
        return f"Could not reach the endpoint: {exc.strerror.lower()}."
    return "Could not reach the endpoint."


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float, allow_http: bool,
         allow_private: bool) -> Answer:
    """POST `body` to `url`, following redirects (each checked); the answer, whatever its status.
    Raises Refused (not allowed, too many redirects) or Unreachable (timeout, connection failure)."""
    started = time.monotonic()
    deadline = started + timeout
    current = url
    own = check_url(url, allow_http=allow_http)
    for hop in range(MAX_REDIRECTS + 1):
        scheme, host, port = check_url(current, allow_http=allow_http)
        # The admin allowed private addresses for the endpoint's own host and port: a redirect
        # elsewhere (another host, or another port of it) is held to the usual rule, so an allowed
        # internal receiver cannot lead us on to another service.
        own_address = (scheme, host, port) == own
        address = resolve(host, port, allow_private=allow_private and own_address,
                          advice=REDIRECT_ADVICE if allow_private and not own_address else PRIVATE_ADVICE)
        status, location, excerpt = _exchange(scheme, host, port, address, current, body, headers, deadline)
        if status in REDIRECTS and location:
            if hop == MAX_REDIRECTS:
                raise Refused(f"The endpoint redirected more than {MAX_REDIRECTS} times; give its final address.")
            current = urljoin(current, location)
            continue
        return Answer(status, int((time.monotonic() - started) * 1000), excerpt, current)
    raise AssertionError("unreachable")  # pragma: no cover


def _exchange(scheme, host, port, address, url, body, headers, deadline) -> tuple[int, str | None, str]:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise Unreachable("The endpoint did not answer in time.")
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection = _Pinned(host, port, address, remaining, scheme == "https")
    # One deadline for everything: the socket's own timeout bounds each read, the watchdog the sum.
    ticket = _WATCHDOG.watch(deadline, connection)
    try:
        host_header = host if port == (443 if scheme == "https" else 80) else f"{host}:{port}"
        connection.request("POST", target, body=body,
                           headers={**headers, "Host": host_header, "Content-Length": str(len(body))})
        response = connection.getresponse()
        excerpt = response.read(EXCERPT_BYTES)
        return response.status, response.getheader("Location"), excerpt.decode("utf-8", "replace")
    except ssl.SSLCertVerificationError as exc:
        raise Unreachable(f"The endpoint's certificate was refused: {exc.verify_message or exc}.") from None
    except (OSError, http.client.HTTPException) as exc:
        if time.monotonic() >= deadline - 0.01 or isinstance(exc, (TimeoutError, socket.timeout)):
            raise Unreachable("The endpoint did not answer in time.") from None
        raise Unreachable(_why_unreachable(exc)) from None
    finally:
        _WATCHDOG.forget(ticket)
        connection.close()


class _Watchdog:
    """One thread for every exchange in the process: at an exchange's deadline it shuts its socket,
    which ends any read in progress (a thread per request cost more than the request)."""

    def __init__(self):
        self.lock = threading.Condition()
        self.heap: list[tuple[float, int]] = []
        self.watched: dict[int, http.client.HTTPConnection] = {}
        self.counter = itertools.count()
        self.thread: threading.Thread | None = None

    def watch(self, deadline: float, connection: http.client.HTTPConnection) -> int:
        with self.lock:
            ticket = next(self.counter)
            self.watched[ticket] = connection
            heapq.heappush(self.heap, (deadline, ticket))
            if self.thread is None or not self.thread.is_alive():  # a fork (an RQ work horse) has none
                self.thread = threading.Thread(target=self._run, name="webhook-watchdog", daemon=True)
                self.thread.start()
            self.lock.notify()
            return ticket

    def forget(self, ticket: int) -> None:
        with self.lock:
            self.watched.pop(ticket, None)

    def _run(self) -> None:
        while True:
            with self.lock:
                while self.heap and self.heap[0][1] not in self.watched:
                    heapq.heappop(self.heap)  # finished in time
                if not self.heap:
                    self.lock.wait()
                    continue
                deadline, ticket = self.heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self.lock.wait(wait)
                    continue
                heapq.heappop(self.heap)
                connection = self.watched.pop(ticket, None)
            sock = getattr(connection, "watched_sock", None) or getattr(connection, "sock", None)
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


_WATCHDOG = _Watchdog()
