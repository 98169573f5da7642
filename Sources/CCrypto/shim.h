/* OpenSSL libcrypto: SHA-256 of model files (recorded in segment.json). */
#include <openssl/evp.h>
