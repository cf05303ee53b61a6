"""HTTP load from `wrk` (the Debian package), so that the load generator is never what limits a
bench: each request is one of a pool of distinct, pre-signed requests written to a file, which
a Lua script reads and sends in turn; its `done` hook prints the results as one JSON line.

Distinct requests matter: ingest-calls answers a repeated event id from its dedupe window
without publishing it, so a pool that wrapped around would flatter it. The pool is split
between wrk's threads, and a run that used a request twice is an error.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

# A request: path (with query), body, headers.
Request = tuple[str, bytes, dict[str, str]]

LUA = """
local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", counter)
  thread:set("wrapped", 0)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local path, nthreads = args[1], tonumber(args[2])
  pool = {}
  local f = assert(io.open(path, "rb"))
  local i = 0
  while true do
    local line = f:read("*l")
    if not line then break end
    local raw = f:read(tonumber(line))
    if i % nthreads == id then pool[#pool + 1] = raw end
    i = i + 1
  end
  f:close()
  index = 0
end

function request()
  index = index + 1
  if index > #pool then
    index = 1
    wrapped = wrapped + 1
  end
  return pool[index]
end

function done(summary, latency, requests)
  local wrapped = 0
  for _, thread in ipairs(threads) do wrapped = wrapped + thread:get("wrapped") end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "mean_us": %f, ' ..
    '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d, ' ..
    '"non_2xx": %d, "wrapped": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.mean, e.connect, e.read, e.write, e.timeout, e.status, wrapped))
end
"""


@dataclass(frozen=True)
class WrkResult:
    name: str
    requests: int
    seconds: float
    p50_s: float
    p99_s: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def raw_request(host: str, request: Request) -> bytes:
    path, body, headers = request
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def write_pool(directory: Path, name: str, url: str, requests: Iterable[Request]) -> Path:
    """The requests as wrk's script reads them: `<length>\\n<raw request>` each."""
    host = urlsplit(url).netloc
    path = directory / f"wrk-{name}.pool"
    with path.open("wb") as out:
        for request in requests:
            raw = raw_request(host, request)
            out.write(b"%d\n" % len(raw) + raw)
    script = directory / "wrk-pool.lua"
    if not script.exists():
        script.write_text(LUA)
    return path


def available() -> bool:
    return shutil.which("wrk") is not None


async def run_wrk(
    name: str,
    url: str,
    pool: Path,
    *,
    seconds: float,
    connections: int = 32,
    threads: int = 1,
) -> WrkResult:
    """`wrk` against `url` for `seconds`, sending the pool's requests; every answer must be 2xx
    and no request may be sent twice."""
    if not available():
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk)")
    script = pool.parent / "wrk-pool.lua"
    process = await asyncio.create_subprocess_exec(
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        "-s",
        str(script),
        url,
        "--",
        str(pool),
        str(threads),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    text = output.decode(errors="replace")
    lines = [line for line in text.splitlines() if line.startswith("{")]
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"wrk {name}: exit {process.returncode}: {text[-2000:]}")
    result = json.loads(lines[-1])
    failed = sum(result[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    if result["non_2xx"] or failed:
        raise RuntimeError(f"wrk {name}: {result['non_2xx']} answers not 2xx, {failed} errors")
    if result["wrapped"]:
        raise RuntimeError(f"wrk {name}: the pool of requests ran out; make it larger")
    return WrkResult(
        name,
        int(result["requests"]),
        result["duration_us"] / 1e6,
        result["p50_us"] / 1e6,
        result["p99_us"] / 1e6,
    )
