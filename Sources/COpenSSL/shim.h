#ifndef KMSYNC_COPENSSL_SHIM_H
#define KMSYNC_COPENSSL_SHIM_H
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/rand.h>
#endif
