#!/usr/bin/python3
# Make an OCI image layout (one image per platform under one index) from
# root filesystem tarballs, with Python's standard library only, so the
# benchmark's base images do not depend on the tool being measured.
# Usage: mkoci.py LAYOUT TAG PLATFORM=ROOTFS.tar [PLATFORM=ROOTFS.tar ...]
#   PLATFORM is os/arch[/variant], e.g. linux/amd64, linux/arm/v7.
# The layer is the tarball gzip'd as is (level 1: these are inputs, not
# figures), with a fixed mtime so the digests are stable across runs.
import gzip, hashlib, json, os, shutil, sys


def put_blob(layout, data):
    d = hashlib.sha256(data).hexdigest()
    p = os.path.join(layout, 'blobs', 'sha256', d)
    if not os.path.exists(p):
        with open(p + '.tmp', 'wb') as f:
            f.write(data)
        os.rename(p + '.tmp', p)
    return 'sha256:' + d, len(data)


def main():
    layout, tag, specs = sys.argv[1], sys.argv[2], sys.argv[3:]
    if not specs:
        sys.exit('usage: mkoci.py LAYOUT TAG PLATFORM=ROOTFS.tar ...')
    shutil.rmtree(layout, ignore_errors=True)
    os.makedirs(os.path.join(layout, 'blobs', 'sha256'))
    manifests = []
    for spec in specs:
        plat, tarpath = spec.split('=', 1)
        parts = plat.split('/')
        with open(tarpath, 'rb') as f:
            raw = f.read()
        diff_id = 'sha256:' + hashlib.sha256(raw).hexdigest()
        gz = gzip.compress(raw, compresslevel=1, mtime=0)
        ldg, lsz = put_blob(layout, gz)
        config = {
            'architecture': parts[1],
            'os': parts[0],
            'config': {'Env': ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
                       'Cmd': ['/bin/sh']},
            'rootfs': {'type': 'layers', 'diff_ids': [diff_id]},
            'history': [{'created_by': 'hoist bench/lib/mkoci.py ' + os.path.basename(tarpath)}],
        }
        if len(parts) > 2:
            config['variant'] = parts[2]
        cdg, csz = put_blob(layout, json.dumps(config, sort_keys=True).encode())
        manifest = {
            'schemaVersion': 2,
            'mediaType': 'application/vnd.oci.image.manifest.v1+json',
            'config': {'mediaType': 'application/vnd.oci.image.config.v1+json',
                       'digest': cdg, 'size': csz},
            'layers': [{'mediaType': 'application/vnd.oci.image.layer.v1.tar+gzip',
                        'digest': ldg, 'size': lsz}],
        }
        mdg, msz = put_blob(layout, json.dumps(manifest, sort_keys=True).encode())
        p = {'os': parts[0], 'architecture': parts[1]}
        if len(parts) > 2:
            p['variant'] = parts[2]
        manifests.append({'mediaType': 'application/vnd.oci.image.manifest.v1+json',
                          'digest': mdg, 'size': msz, 'platform': p})
    index = {'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.index.v1+json',
             'manifests': manifests}
    idg, isz = put_blob(layout, json.dumps(index, sort_keys=True).encode())
    top = {'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.index.v1+json',
           'manifests': [{'mediaType': 'application/vnd.oci.image.index.v1+json',
                          'digest': idg, 'size': isz,
                          'annotations': {'org.opencontainers.image.ref.name': tag}}]}
    with open(os.path.join(layout, 'index.json'), 'w') as f:
        json.dump(top, f)
    with open(os.path.join(layout, 'oci-layout'), 'w') as f:
        json.dump({'imageLayoutVersion': '1.0.0'}, f)


main()
