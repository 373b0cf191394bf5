#include "core/sha256.h"

#include <openssl/evp.h>
#include <QIODevice>
#include <utility>

namespace bd {

namespace {

// Fetched once: EVP_sha256() would look the implementation up again at every init.
const EVP_MD *sha256Method()
{
    static EVP_MD *const method = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (!method)
        qFatal("libcrypto has no SHA-256");
    return method;
}

constexpr int kDigestSize = 32;

} // namespace

Sha256::Sha256()
    : m_context(EVP_MD_CTX_new())
{
    if (!m_context || !EVP_DigestInit_ex2(m_context, sha256Method(), nullptr))
        qFatal("cannot start a SHA-256 digest");
}

Sha256::Sha256(Sha256 &&other) noexcept
    : Sha256()
{
    std::swap(m_context, other.m_context);
}

Sha256 &Sha256::operator=(Sha256 &&other) noexcept
{
    std::swap(m_context, other.m_context);
    return *this;
}

Sha256::~Sha256()
{
    EVP_MD_CTX_free(m_context);
}

void Sha256::addData(QByteArrayView data)
{
    EVP_DigestUpdate(m_context, data.data(), size_t(data.size()));
}

bool Sha256::addData(QIODevice *device)
{
    QByteArray buffer(1 << 16, Qt::Uninitialized);
    for (;;) {
        const qint64 read = device->read(buffer.data(), buffer.size());
        if (read < 0)
            return false;
        if (read == 0)
            return device->atEnd();
        addData(QByteArrayView(buffer.constData(), read));
    }
}

QByteArray Sha256::result()
{
    QByteArray digest(kDigestSize, Qt::Uninitialized);
    EVP_DigestFinal_ex(m_context, reinterpret_cast<unsigned char *>(digest.data()), nullptr);
    EVP_DigestInit_ex2(m_context, sha256Method(), nullptr);
    return digest;
}

QByteArray Sha256::hexResult()
{
    unsigned char digest[kDigestSize];
    EVP_DigestFinal_ex(m_context, digest, nullptr);
    EVP_DigestInit_ex2(m_context, sha256Method(), nullptr);
    static constexpr char kDigits[] = "0123456789abcdef";
    QByteArray hex(2 * kDigestSize, Qt::Uninitialized);
    char *out = hex.data();
    for (const unsigned char byte : digest) {
        *out++ = kDigits[byte >> 4];
        *out++ = kDigits[byte & 0xf];
    }
    return hex;
}

QByteArray Sha256::hash(QByteArrayView data)
{
    Sha256 sha;
    sha.addData(data);
    return sha.result();
}

QByteArray Sha256::hexHash(QByteArrayView data)
{
    Sha256 sha;
    sha.addData(data);
    return sha.hexResult();
}

} // namespace bd
