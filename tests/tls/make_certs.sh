#!/usr/bin/env bash
# make_certs.sh DIR - creates the throw-away PKI the TLS tests use, with the
# openssl command, at test time (nothing secret is ever committed):
#
#   ca.pem / ca.key              the test CA (trust it to verify the others)
#   server.pem / server.key      localhost, 127.0.0.1, ::1 (signed by ca)
#   other.pem / other.key        other.test, for SNI (signed by ca)
#   wronghost.pem / .key         wrong.example only (signed by ca)
#   expired.pem / .key           localhost, valid in 2020 only (signed by ca)
#   untrusted.pem / .key         localhost, signed by a CA nobody trusts
#   client.pem / client.key      client certificate CN=alice,O=ws101 test
#   chain-server.pem             server.pem followed by ca.pem
#
# EC P-256 keys: quick to generate. Exits non-zero if openssl fails.
set -euo pipefail
dir="$1"
mkdir -p "$dir"
cd "$dir"
o() { openssl "$@" 2>/dev/null; }
key() { o genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

key ca.key
o req -x509 -new -key ca.key -out ca.pem -days 3 -subj "/CN=ws101 test CA" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign"
key evil-ca.key
o req -x509 -new -key evil-ca.key -out evil-ca.pem -days 3 \
  -subj "/CN=untrusted CA" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign"

# sign NAME CA SUBJECT EXT
sign() {
  key "$1.key"
  o req -new -key "$1.key" -out "$1.csr" -subj "$3"
  printf '%s\n' "$4" >"$1.ext"
  o x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial \
    -out "$1.pem" -days 2 -extfile "$1.ext"
  rm -f "$1.csr" "$1.ext"
}
srv='basicConstraints=CA:FALSE
extendedKeyUsage=serverAuth'
sign server ca "/CN=localhost" "$srv
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"
sign other ca "/CN=other.test" "$srv
subjectAltName=DNS:other.test"
sign wronghost ca "/CN=wrong.example" "$srv
subjectAltName=DNS:wrong.example"
sign untrusted evil-ca "/CN=localhost" "$srv
subjectAltName=DNS:localhost,IP:127.0.0.1"
sign client ca "/O=ws101 test/CN=alice" 'basicConstraints=CA:FALSE
extendedKeyUsage=clientAuth'

# An expired certificate needs explicit dates: `openssl ca` takes them.
key expired.key
o req -new -key expired.key -out expired.csr -subj "/CN=localhost"
mkdir -p ca-db
: >ca-db/index.txt
echo 1000 >ca-db/serial
cat >ca-db/ca.cnf <<CNF
[ca]
default_ca = test
[test]
database = ca-db/index.txt
serial = ca-db/serial
new_certs_dir = ca-db
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
x509_extensions = ext
[any]
commonName = supplied
[ext]
basicConstraints = CA:FALSE
subjectAltName = DNS:localhost,IP:127.0.0.1
CNF
o ca -batch -config ca-db/ca.cnf -cert ca.pem -keyfile ca.key \
  -in expired.csr -out expired.pem -startdate 20200101000000Z \
  -enddate 20200102000000Z -notext
rm -rf expired.csr ca-db
cat server.pem ca.pem >chain-server.pem
for f in ca server other wronghost expired untrusted client; do
  [ -s "$f.pem" ] && [ -s "$f.key" ] || { echo "make_certs: $f missing" >&2; exit 1; }
done
