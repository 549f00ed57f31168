// Throwaway certificates for TLS tests, made at test time with OpenSSL: EC P-256 keys, CAs and
// leaf certificates, written as PEM files.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace hearth::test_pki {

using KeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using CertificatePtr = std::unique_ptr<X509, decltype(&X509_free)>;

inline KeyPtr make_key() {
  return KeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), EVP_PKEY_free);
}

inline bool add_extension(X509* certificate, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer, certificate, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value.c_str());
  if (extension == nullptr) {
    return false;
  }
  const bool added = X509_add_ext(certificate, extension, -1) == 1;
  X509_EXTENSION_free(extension);
  return added;
}

// issuer null: self-signed with `key`. Null on failure.
inline CertificatePtr make_certificate(EVP_PKEY* key, const std::string& common_name, X509* issuer,
                                       EVP_PKEY* issuer_key, long serial,
                                       const std::vector<std::pair<int, std::string>>& extensions) {
  CertificatePtr certificate(X509_new(), X509_free);
  if (!certificate) {
    return certificate;
  }
  X509* cert = certificate.get();
  X509_NAME* subject = X509_get_subject_name(cert);
  const auto* name = reinterpret_cast<const unsigned char*>(common_name.c_str());
  const bool made =
      X509_set_version(cert, X509_VERSION_3) == 1 &&
      ASN1_INTEGER_set(X509_get_serialNumber(cert), serial) == 1 &&
      X509_gmtime_adj(X509_getm_notBefore(cert), -3600) != nullptr &&
      X509_gmtime_adj(X509_getm_notAfter(cert), 24 * 3600) != nullptr &&
      X509_set_pubkey(cert, key) == 1 &&
      X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, name, -1, -1, 0) == 1 &&
      X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : subject) == 1;
  if (!made) {
    return CertificatePtr(nullptr, X509_free);
  }
  for (const auto& [nid, value] : extensions) {
    if (!add_extension(cert, issuer ? issuer : cert, nid, value)) {
      return CertificatePtr(nullptr, X509_free);
    }
  }
  if (X509_sign(cert, issuer_key ? issuer_key : key, EVP_sha256()) <= 0) {
    return CertificatePtr(nullptr, X509_free);
  }
  return certificate;
}

// A self-signed certificate authority.
inline CertificatePtr make_ca(EVP_PKEY* key, const std::string& common_name, long serial) {
  return make_certificate(key, common_name, nullptr, nullptr, serial,
                          {{NID_basic_constraints, "critical,CA:TRUE"},
                           {NID_key_usage, "critical,keyCertSign,cRLSign"},
                           {NID_subject_key_identifier, "hash"}});
}

// A leaf certificate issued by `ca`. usage: "serverAuth" or "clientAuth"; san: e.g.
// "DNS:localhost,IP:127.0.0.1", or "" for none.
inline CertificatePtr make_leaf(EVP_PKEY* key, const std::string& common_name, X509* ca,
                                EVP_PKEY* ca_key, long serial, const std::string& usage,
                                const std::string& san) {
  std::vector<std::pair<int, std::string>> extensions = {
      {NID_basic_constraints, "critical,CA:FALSE"},
      {NID_key_usage, "critical,digitalSignature"},
      {NID_ext_key_usage, usage},
  };
  if (!san.empty()) {
    extensions.emplace_back(NID_subject_alt_name, san);
  }
  extensions.emplace_back(NID_subject_key_identifier, "hash");
  extensions.emplace_back(NID_authority_key_identifier, "keyid:always");
  return make_certificate(key, common_name, ca, ca_key, serial, extensions);
}

// The certificate (if any), then the key (if any), in one PEM file.
inline bool write_pem(const std::string& path, X509* certificate, EVP_PKEY* key) {
  FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) {
    return false;
  }
  bool written = certificate == nullptr || PEM_write_X509(file, certificate) == 1;
  if (key != nullptr) {
    written =
        written && PEM_write_PrivateKey(file, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  }
  return std::fclose(file) == 0 && written;
}

// A fresh directory under the system's temporary directory; "" on failure.
inline std::string make_temp_dir(const std::string& prefix) {
  std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    return {};
  }
  return pattern;
}

}  // namespace hearth::test_pki
