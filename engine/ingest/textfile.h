#pragma once

#include <optional>
#include <QString>

namespace bd::ingest {

// Small text inputs a user names by path: prompt templates and system prompts.
inline constexpr qint64 kMaxTextFileBytes = 1024 * 1024;

// Checks that path names a regular file (following symlinks) without opening it, so that a
// FIFO or a device is refused instead of blocking or reading for ever. On failure *error
// is "<path>: no such file", "<path>: is a directory" or "<path>: not a regular file (a
// FIFO)" and the like.
bool checkRegularFile(const QString &path, QString *error);

// Reads a whole UTF-8 text file of at most maxBytes (a UTF-8 byte order mark is dropped).
// Refuses, with a message naming the path: what is not a regular file (checked on the
// open descriptor, which is opened without blocking, so a FIFO swapped in after a check
// cannot hang it), a file larger than maxBytes (read no further than that, so /proc files
// and growing files are bounded too), NUL bytes and invalid UTF-8 (with the line).
std::optional<QString> readTextFile(const QString &path, QString *error,
                                    qint64 maxBytes = kMaxTextFileBytes);

} // namespace bd::ingest
