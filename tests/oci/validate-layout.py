#!/usr/bin/env python3
# Validate an OCI image layout's JSON documents (oci-layout, index.json, and the
# manifests, indexes and configs it reaches) against the OCI image-spec schemas.
# Usage: validate-layout.py SCHEMA_DIR LAYOUT_DIR. Prints TAP lines, exits 1 on failure.
import json, os, sys
import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

schema_dir, layout = sys.argv[1], sys.argv[2]

def retrieve(uri):
    # The schemas name each other by relative path under differing ids:
    # resolve every reference by its file name in the schema directory.
    name = uri.rstrip('/').split('/')[-1].split('#')[0]
    if not name.endswith('.json'):
        name += '.json'
    with open(os.path.join(schema_dir, name)) as f:
        return Resource.from_contents(json.load(f), default_specification=DRAFT4)

registry = Registry(retrieve=retrieve)

def validator(name):
    with open(os.path.join(schema_dir, name)) as f:
        schema = json.load(f)
    return jsonschema.Draft4Validator(schema, registry=registry)

schemas = {
    'layout': validator('image-layout-schema.json'),
    'index': validator('image-index-schema.json'),
    'manifest': validator('image-manifest-schema.json'),
    'config': validator('config-schema.json'),
}
n = 0
failed = 0

def check(kind, doc, what):
    global n, failed
    n += 1
    errs = sorted(schemas[kind].iter_errors(doc), key=lambda e: e.path)
    if errs:
        failed += 1
        print(f"not ok {n} - {what} is a valid {kind}")
        for e in errs[:5]:
            print(f"# {list(e.path)}: {e.message}")
    else:
        print(f"ok {n} - {what} is a valid {kind}")

def blob(digest):
    alg, hexd = digest.split(':', 1)
    with open(os.path.join(layout, 'blobs', alg, hexd), 'rb') as f:
        return json.loads(f.read())

with open(os.path.join(layout, 'oci-layout')) as f:
    check('layout', json.load(f), 'oci-layout')
with open(os.path.join(layout, 'index.json')) as f:
    idx = json.load(f)
check('index', idx, 'index.json')

def walk(desc):
    mt = desc.get('mediaType', '')
    doc = blob(desc['digest'])
    if mt.endswith('index.v1+json') or 'manifests' in doc:
        check('index', doc, desc['digest'][:19])
        for d in doc['manifests']:
            walk(d)
    else:
        check('manifest', doc, desc['digest'][:19])
        check('config', blob(doc['config']['digest']), 'config ' + doc['config']['digest'][:19])

for d in idx['manifests']:
    walk(d)
print(f"1..{n}")
sys.exit(1 if failed else 0)
