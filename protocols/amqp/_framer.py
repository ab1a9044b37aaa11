"""Sans-IO AMQP 0-9-1 framer: bytes in, frames out; no socket, loop or clock.

pamqp is a codec, not a framer: a partial frame raises the same exception as
a bad one, and ``unmarshal`` does not validate. So frames are cut here: the
8-byte protocol header first, then a 7-byte frame header, a size checked
against the negotiated ``frame_max`` *before* the payload is buffered, the
payload and the frame-end octet. Method frames are decoded by pamqp, except
the hot ones (basic.publish, basic.ack) which are read directly. Content
headers and bodies stay raw bytes (the properties are stored as sent).

``next_frame()`` returns one of

    (METHOD, channel, method)          pamqp method object (or _wire.Publish / _wire.Ack)
    (HEADER, channel, (body_size, property bytes))
    (BODY, channel, bytes)
    (HEARTBEAT, 0, None)
    (PROTOCOL_HEADER, 0, bytes)         the client's 8-byte greeting
    NEED_DATA

and raises ``AmqpError`` (hard: FRAME_ERROR / SYNTAX_ERROR) on bad input;
after an error every later call raises it again.
"""

from __future__ import annotations

import struct

from pamqp import exceptions as pexc
from pamqp import frame as pframe

from protocols.amqp._wire import decode_fast
from protocols.amqp.errors import FRAME_ERROR, SYNTAX_ERROR, AmqpError

METHOD, HEADER, BODY, HEARTBEAT, PROTOCOL_HEADER = 1, 2, 3, 8, 0
NEED_DATA = object()
FRAME_END = 0xCE
AMQP_HEADER = b"AMQP\x00\x00\x09\x01"
_HDR = struct.Struct(">BHI")
_HEADER_FRAME = struct.Struct(">HHQ")


class Framer:
    __slots__ = ("buf", "pos", "frame_max", "greeted", "error")

    def __init__(self, frame_max: int = 131072) -> None:
        self.buf = bytearray()
        self.pos = 0
        self.frame_max = frame_max          # negotiated; 0 = no limit beyond our own
        self.greeted = False
        self.error: AmqpError | None = None

    def receive_data(self, data: bytes) -> None:
        if self.pos and self.pos > len(self.buf) // 2:
            del self.buf[:self.pos]
            self.pos = 0
        self.buf += data

    @property
    def buffered(self) -> int:
        return len(self.buf) - self.pos

    def next_frame(self):
        if self.error is not None:
            raise self.error
        try:
            return self._next()
        except AmqpError as exc:
            self.error = exc
            raise

    def _next(self):
        buf, pos = self.buf, self.pos
        avail = len(buf) - pos
        if not self.greeted:
            if avail < 8:
                got = bytes(buf[pos:pos + 4])
                if got != AMQP_HEADER[:len(got)]:
                    return self._greeting(bytes(buf[pos:]))
                return NEED_DATA
            self.pos = pos + 8
            self.greeted = True
            return (PROTOCOL_HEADER, 0, bytes(buf[pos:pos + 8]))
        if avail < 7:
            return NEED_DATA
        ftype, channel, size = _HDR.unpack_from(buf, pos)
        limit = self.frame_max or 131072
        if size + 8 > limit:
            raise AmqpError(FRAME_ERROR, f"type {ftype}, all octets = <<>>: {{frame_too_large,{size},{limit - 8}}}")
        end = pos + 7 + size
        if len(buf) < end + 1:
            return NEED_DATA
        if buf[end] != FRAME_END:
            raise AmqpError(FRAME_ERROR, f"type {ftype}, first 16 octets = <<>>: {{invalid_frame_end_marker,"
                            f"{buf[end]}}}")
        payload = bytes(buf[pos + 7:end])
        self.pos = end + 1
        if ftype == METHOD:
            return (METHOD, channel, _method(payload))
        if ftype == HEADER:
            if size < 14:
                raise AmqpError(FRAME_ERROR, "content header frame is too short")
            class_id, _weight, body_size = _HEADER_FRAME.unpack_from(payload, 0)
            if class_id != 60:
                raise AmqpError(FRAME_ERROR, f"content header class {class_id} is not basic")
            return (HEADER, channel, (body_size, payload[12:]))
        if ftype == BODY:
            return (BODY, channel, payload)
        if ftype == HEARTBEAT:
            if channel != 0:
                raise AmqpError(FRAME_ERROR, f"heartbeat frame on channel {channel}")
            return (HEARTBEAT, 0, None)
        raise AmqpError(FRAME_ERROR, f"unknown frame type {ftype}")

    def _greeting(self, got: bytes):
        self.greeted = True
        self.pos = len(self.buf)
        return (PROTOCOL_HEADER, 0, got)


def _method(payload: bytes):
    if len(payload) < 4:
        raise AmqpError(FRAME_ERROR, "method frame is too short")
    fast = decode_fast(payload)
    if fast is not None:
        return fast
    try:
        return pframe._unmarshal_method_frame(payload)
    except pexc.UnmarshalingException as exc:
        raise AmqpError(SYNTAX_ERROR, f"cannot decode method frame: {exc.args[-1]}") from None
    except Exception as exc:   # any other decode failure is the peer's fault too
        raise AmqpError(SYNTAX_ERROR, f"cannot decode method frame: {exc}") from None
