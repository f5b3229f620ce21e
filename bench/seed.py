#!/usr/bin/env python3
"""Prepares single-use inputs for the benchmark: authorization codes (through one
logged-in browser session) and refresh tokens. Loopback only; bounded by the counts
given.

  seed.py codes BASE N OUT       N codes for bench-web, one per line, oldest first
                                 (four sessions in parallel: codes live 60 s at most)
  seed.py refresh BASE N OUT     N refresh tokens (each from its own code exchange)
  seed.py login BASE OUT         a login form's request, csrf and cookie (for the flood)
  seed.py token BASE CLIENT EMAIL OUT
                                 an access token (scope tessera:api) of EMAIL through
                                 the public client CLIENT, from a code exchange
"""
import http.client
import json
import multiprocessing
import re
import sys
import urllib.parse

CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
REDIRECT = "http://127.0.0.1:9/cb"
EMAIL, PASSWORD = "bench@example.com", "correct horse battery"


def connect(base):
    u = urllib.parse.urlparse(base)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30)


def authorize_path(client="bench-web", scope="openid offline_access"):
    q = urllib.parse.urlencode({
        "response_type": "code", "client_id": client, "redirect_uri": REDIRECT,
        "scope": scope, "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
    })
    return "/authorize?" + q


def cookies_of(response, jar):
    for header, value in response.getheaders():
        if header.lower() == "set-cookie":
            name, _, rest = value.partition("=")
            jar[name] = rest.split(";")[0]


def cookie_header(jar):
    return "; ".join(f"{k}={v}" for k, v in jar.items())


def field(html, name):
    m = re.search(r'name="%s" value="([^"]*)"' % name, html)
    return m.group(1) if m else None


def login_form(conn, jar, path=None):
    conn.request("GET", path or authorize_path(), headers={"Cookie": cookie_header(jar)})
    r = conn.getresponse()
    body = r.read().decode()
    cookies_of(r, jar)
    return field(body, "request"), field(body, "csrf")


def session(conn, path=None, email=EMAIL):
    jar = {}
    request, csrf = login_form(conn, jar, path)
    form = urllib.parse.urlencode({"request": request, "csrf": csrf, "email": email, "password": PASSWORD})
    conn.request("POST", "/login", body=form, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie_header(jar)})
    r = conn.getresponse()
    r.read()
    cookies_of(r, jar)
    if "tessera_session" not in jar:
        sys.exit("login failed: %s" % r.status)
    return jar


def code(conn, jar, path=None):
    conn.request("GET", path or authorize_path(), headers={"Cookie": cookie_header(jar)})
    r = conn.getresponse()
    r.read()
    location = r.getheader("Location") or ""
    return urllib.parse.parse_qs(urllib.parse.urlparse(location).query)["code"][0]


def codes(base, n):
    conn = connect(base)
    jar = session(conn)
    return [code(conn, jar) for _ in range(n)]


def main():
    what, base = sys.argv[1], sys.argv[2]
    conn = connect(base)
    if what == "login":
        jar = {}
        request, csrf = login_form(conn, jar)
        with open(sys.argv[3], "w") as out:
            out.write(json.dumps({"request": request, "csrf": csrf, "cookie": cookie_header(jar)}))
        return
    if what == "token":
        client, email, out_path = sys.argv[3], sys.argv[4], sys.argv[5]
        path = authorize_path(client, "openid tessera:api")
        jar = session(conn, path, email)
        c = code(conn, jar, path)
        form = urllib.parse.urlencode({
            "grant_type": "authorization_code", "client_id": client, "code": c,
            "redirect_uri": REDIRECT, "code_verifier": VERIFIER})
        conn.request("POST", "/token", body=form,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        r = conn.getresponse()
        with open(out_path, "w") as out:
            out.write(json.loads(r.read())["access_token"])
        return
    n, path = int(sys.argv[3]), sys.argv[4]
    if what == "codes":
        parts = 4
        with multiprocessing.Pool(parts) as pool:
            chunks = pool.starmap(codes, [(base, n // parts + (i < n % parts)) for i in range(parts)])
        with open(path, "w") as out:
            # Interleaved, so the file runs from the oldest codes to the newest.
            for k in range(max(map(len, chunks))):
                for chunk in chunks:
                    if k < len(chunk):
                        out.write(chunk[k] + "\n")
        return
    jar = session(conn)
    with open(path, "w") as out:
        for _ in range(n):
            c = code(conn, jar)
            form = urllib.parse.urlencode({
                "grant_type": "authorization_code", "client_id": "bench-web", "code": c,
                "redirect_uri": REDIRECT, "code_verifier": VERIFIER})
            conn.request("POST", "/token", body=form,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
            r = conn.getresponse()
            out.write(json.loads(r.read())["refresh_token"] + "\n")


if __name__ == "__main__":
    main()
