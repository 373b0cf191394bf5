#pragma once

#include <QByteArray>
#include <QByteArrayView>

class QIODevice;
struct evp_md_ctx_st; // OpenSSL's EVP_MD_CTX, kept out of the includes

namespace bd {

// SHA-256 through OpenSSL's libcrypto, which picks the CPU's own instructions (SHA-NI, AVX2)
// at run time; Qt 6.4's QCryptographicHash is portable C, several times slower. The same
// digest either way: request keys (cost/responsecache.h) and input file hashes are stored,
// and must not change. Not thread-safe: one object per thread.
class Sha256 final
{
public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256 &) = delete;
    Sha256 &operator=(const Sha256 &) = delete;
    // A moved-from digest is a usable one (of whatever the other had).
    Sha256(Sha256 &&other) noexcept;
    Sha256 &operator=(Sha256 &&other) noexcept;

    void addData(QByteArrayView data);
    // Reads the device to its end; false on a read error (the digest is then of a part).
    bool addData(QIODevice *device);
    // The 32-byte digest of everything added since the last result(); starts over.
    QByteArray result();
    // result() as 64 lowercase hex digits.
    QByteArray hexResult();

    static QByteArray hash(QByteArrayView data);
    static QByteArray hexHash(QByteArrayView data);

private:
    evp_md_ctx_st *m_context;
};

} // namespace bd
