"""Zips one executable for Lambda: a function (`bootstrap`) or an extension layer
(`extensions/<name>`), executable, with a fixed timestamp so an unchanged binary gives the same
zip (Serverless then reuses a layer it has already published).

    python3 scripts/lambda-zip.py <binary> <zip> <path in the zip>
"""
import sys
import zipfile

binary, archive, member = sys.argv[1:4]
info = zipfile.ZipInfo(member, date_time=(1980, 1, 1, 0, 0, 0))
info.external_attr = (0o100755 << 16)
info.compress_type = zipfile.ZIP_DEFLATED
with open(binary, "rb") as f, zipfile.ZipFile(archive, "w") as z:
    z.writestr(info, f.read())
