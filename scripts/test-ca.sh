#!/usr/bin/env bash
# Makes a throwaway test CA and a server certificate for localhost/127.0.0.1
# (with subjectAltName, which TLS clients check; the CN is ignored) in OUTDIR:
#   ca.pem, ca.key          the CA (clients: ca_file=OUTDIR/ca.pem, verification on)
#   server.pem, server.key  the server's certificate (leaf, signed by the CA) and key
#   client.pem, client.key  a client certificate signed by the CA (mTLS: give
#                           Gavel server.client_ca = OUTDIR/ca.pem)
# Usage: scripts/test-ca.sh OUTDIR [DAYS]   (DAYS defaults to 30)
# Idempotent: an OUTDIR that already holds all six files is left alone.
set -euo pipefail

out=${1:?usage: $0 OUTDIR [DAYS]}
days=${2:-30}
mkdir -p "$out"
cd "$out"
if [[ -s ca.pem && -s ca.key && -s server.pem && -s server.key && -s client.pem &&
  -s client.key ]]; then
  exit 0
fi

key="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
umask 077
openssl req -x509 $key -keyout ca.key -out ca.pem -days "$days" \
  -subj "/CN=Gavel test CA" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req $key -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
cat > server.ext <<'EXT'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
EXT
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
  -days "$days" -out server.pem -extfile server.ext 2>/dev/null
openssl req $key -keyout client.key -out client.csr -subj "/CN=gavel test client" 2>/dev/null
cat > client.ext <<'EXT'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
EXT
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
  -days "$days" -out client.pem -extfile client.ext 2>/dev/null
rm -f server.csr server.ext client.csr client.ext ca.srl
chmod 644 ca.pem server.pem client.pem
openssl verify -CAfile ca.pem server.pem client.pem >/dev/null
echo "test CA in $out: ca.pem (trust this), server.pem + server.key (serve these)," \
  "client.pem + client.key (present these for mTLS)"
