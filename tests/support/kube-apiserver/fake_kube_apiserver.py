#!/usr/bin/env python3
"""A test Kubernetes API server: JSON only, in memory, standard library only.

Behaves like kube-apiserver for what a datastore client and kubectl use: discovery, get/list
(label/field selectors, limit/continue), create/update/patch/delete with the real Status errors,
watches (resourceVersion, bookmarks, timeoutSeconds, 410 Expired from a bounded history) and
CustomResourceDefinitions that serve their resources as soon as they are created.

  python3 fake_kube_apiserver.py --listen 127.0.0.1:0 [--token TOKEN | --token-file FILE]
      [--tls-cert CERT --tls-key KEY] [--history N] [--min-request-timeout S]

prints `ready <base-url>` on stdout once listening; logs go to stderr. See README.md.
"""

import argparse
import base64
import copy
import hmac
import json
import queue
import random
import re
import select
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.parse
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SERVER_VERSION = {
    "major": "1",
    "minor": "20",
    "gitVersion": "v1.20.2",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2021-01-13T13:20:00Z",
    "goVersion": "go1.15.5",
    "compiler": "gc",
    "platform": "linux/amd64",
}
ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
BOOKMARK_INTERVAL_SECONDS = 1.0
UNDELETABLE_NAMESPACES = ("default", "kube-system", "kube-public")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_NAME = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                        r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


def log(message):
    sys.stderr.write("fake-kube-apiserver: %s\n" % message)
    sys.stderr.flush()


def now_rfc3339():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def parse_rfc3339(text):
    try:
        return time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")) - time.mktime(
            time.gmtime(0))
    except (TypeError, ValueError):
        return None


def human_age(timestamp):
    """kubectl's short age format (duration.HumanDuration, simplified)."""
    created = parse_rfc3339(timestamp)
    if created is None:
        return "<unknown>"
    seconds = max(0, int(time.time() - created))
    if seconds < 120:
        return "%ds" % seconds
    minutes = seconds // 60
    if minutes < 10:
        return "%dm%ds" % (minutes, seconds % 60) if seconds % 60 else "%dm" % minutes
    if minutes < 180:
        return "%dm" % minutes
    hours = minutes // 60
    if hours < 48:
        return "%dh" % hours
    return "%dd" % (hours // 24)


class ApiError(Exception):
    """An error answered with a Status object, shaped as kube-apiserver shapes it."""

    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self):
        return status_object(self.code, self.reason, self.message, self.details)


def status_object(code, reason, message, details=None):
    status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": message, "reason": reason}
    if details is not None:
        status["details"] = details
    status["code"] = code
    return status


def not_found_resource():
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def bad_request(message):
    return ApiError(400, "BadRequest", message)


# ---------------------------------------------------------------------------------------------
# Resource types


class ResourceType:
    """One served resource (a built-in or one defined by a CRD)."""

    def __init__(self, group, versions, plural, singular, kind, namespaced, short_names=(),
                 list_kind=None, has_status=False, categories=(), crd_name=None,
                 field_labels=(), printer_columns=None):
        self.group = group
        self.versions = list(versions)  # served versions, preferred first
        self.plural = plural
        self.singular = singular
        self.kind = kind
        self.list_kind = list_kind or kind + "List"
        self.namespaced = namespaced
        self.short_names = list(short_names)
        self.has_status = has_status
        self.categories = list(categories)
        self.crd_name = crd_name
        self.field_labels = ("metadata.name", "metadata.namespace") + tuple(field_labels)
        self.printer_columns = printer_columns or []  # [(name, type, json path, priority)]

    @property
    def key(self):
        return (self.group, self.plural)

    def group_version(self, version):
        return "%s/%s" % (self.group, version) if self.group else version

    def details(self, name):
        details = {"name": name}
        if self.group:
            details["group"] = self.group
        details["kind"] = self.plural
        return details

    def qualified(self):
        return "%s.%s" % (self.plural, self.group) if self.group else self.plural

    def discovery_entries(self):
        entries = [{"name": self.plural, "singularName": self.singular,
                    "namespaced": self.namespaced, "kind": self.kind, "verbs": ALL_VERBS}]
        if self.short_names:
            entries[0]["shortNames"] = self.short_names
        if self.categories:
            entries[0]["categories"] = self.categories
        if self.has_status:
            entries.append({"name": self.plural + "/status", "singularName": "",
                            "namespaced": self.namespaced, "kind": self.kind,
                            "verbs": ["get", "patch", "update"]})
        return entries


# Every namespace carries its name as this label (the API server sets it on each create and update
# since Kubernetes 1.21, whatever the client sent), so that namespaceSelectors can pick one by name.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def set_namespace_name_label(obj):
    metadata = obj.setdefault("metadata", {})
    labels = metadata.get("labels")
    if not isinstance(labels, dict):
        labels = metadata["labels"] = {}
    labels[NAMESPACE_NAME_LABEL] = metadata.get("name")


def builtin_types():
    return [
        ResourceType("", ["v1"], "namespaces", "namespace", "Namespace", False, ["ns"],
                     has_status=True, field_labels=("status.phase",),
                     printer_columns=[("Status", "string", ".status.phase", 0)]),
        ResourceType("", ["v1"], "nodes", "node", "Node", False, ["no"], has_status=True,
                     field_labels=("spec.unschedulable",)),
        ResourceType("", ["v1"], "pods", "pod", "Pod", True, ["po"], has_status=True,
                     categories=["all"],
                     field_labels=("spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                                   "spec.serviceAccountName", "status.phase", "status.podIP",
                                   "status.nominatedNodeName"),
                     printer_columns=[("Status", "string", ".status.phase", 0),
                                      ("IP", "string", ".status.podIP", 1),
                                      ("Node", "string", ".spec.nodeName", 1)]),
        ResourceType("networking.k8s.io", ["v1"], "networkpolicies", "networkpolicy",
                     "NetworkPolicy", True, ["netpol"]),
        ResourceType("apiextensions.k8s.io", ["v1"], "customresourcedefinitions",
                     "customresourcedefinition", "CustomResourceDefinition", False,
                     ["crd", "crds"], has_status=True, categories=["api-extensions"]),
    ]


def version_priority(version):
    """Kubernetes version ordering: v2 > v1 > v1beta2 > v1beta1 > v1alpha1 > other names."""
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not match:
        return (0, 0, 0, version)
    stability = {"alpha": 1, "beta": 2, None: 3}[match.group(2)]
    return (stability, int(match.group(1)), int(match.group(3) or 0), "")


def sorted_versions(versions):
    return sorted(versions, key=lambda v: (-version_priority(v)[0], -version_priority(v)[1],
                                           -version_priority(v)[2], version_priority(v)[3]))


def crd_resource_type(crd):
    """Validates a CRD's spec and returns the ResourceType it serves (ApiError 422 if bad)."""
    name = crd["metadata"]["name"]
    spec = crd.get("spec")
    problems = []
    if not isinstance(spec, dict):
        raise invalid("CustomResourceDefinition", name, [("spec", "Required value")])
    group = spec.get("group")
    names = spec.get("names") if isinstance(spec.get("names"), dict) else {}
    plural = names.get("plural")
    kind = names.get("kind")
    if not isinstance(group, str) or not group or not DNS_SUBDOMAIN.match(group):
        problems.append(("spec.group", "Required value: a DNS-1123 subdomain"))
    if not isinstance(plural, str) or not DNS_LABEL.match(plural or ""):
        problems.append(("spec.names.plural", "Required value: a DNS-1035 label"))
    if not isinstance(kind, str) or not kind:
        problems.append(("spec.names.kind", "Required value"))
    if not problems and name != "%s.%s" % (plural, group):
        problems.append(("metadata.name", "Invalid value: %r: must be spec.names.plural+\".\"+"
                         "spec.group" % name))
    scope = spec.get("scope")
    if scope not in ("Namespaced", "Cluster"):
        problems.append(("spec.scope", "Unsupported value: %r: supported values: \"Cluster\", "
                         "\"Namespaced\"" % (scope,)))
    versions = spec.get("versions")
    served = []
    if not isinstance(versions, list) or not versions:
        problems.append(("spec.versions", "Invalid value: must have exactly one version marked "
                         "as storage version"))
    else:
        storage = 0
        for index, version in enumerate(versions):
            if not isinstance(version, dict) or not isinstance(version.get("name"), str) \
                    or not DNS_LABEL.match(version.get("name") or ""):
                problems.append(("spec.versions[%d].name" % index, "Required value"))
                continue
            if version.get("storage") is True:
                storage += 1
            if version.get("served") is True:
                served.append(version["name"])
        if storage != 1:
            problems.append(("spec.versions", "Invalid value: must have exactly one version "
                             "marked as storage version"))
    if problems:
        raise invalid("CustomResourceDefinition", name, problems)
    has_status = False
    printer_columns = []
    for version in versions:
        if version["name"] == (sorted_versions(served) or [None])[0]:
            subresources = version.get("subresources") or {}
            has_status = isinstance(subresources, dict) and "status" in subresources
            for column in version.get("additionalPrinterColumns") or []:
                if isinstance(column, dict) and column.get("name") and column.get("jsonPath"):
                    printer_columns.append((column["name"], column.get("type", "string"),
                                            column["jsonPath"], column.get("priority", 0)))
    return ResourceType(group, sorted_versions(served), plural,
                        names.get("singular") or kind.lower(), kind, scope == "Namespaced",
                        names.get("shortNames") or [], names.get("listKind"), has_status,
                        names.get("categories") or [], crd_name=name,
                        printer_columns=printer_columns)


def crd_accepted_status(crd):
    spec = crd["spec"]
    names = dict(spec["names"])
    names.setdefault("singular", names["kind"].lower())
    names.setdefault("listKind", names["kind"] + "List")
    stamp = now_rfc3339()
    return {
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "lastTransitionTime": stamp,
             "reason": "NoConflicts", "message": "no conflicts found"},
            {"type": "Established", "status": "True", "lastTransitionTime": stamp,
             "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"},
        ],
        "acceptedNames": names,
        "storedVersions": [v["name"] for v in spec["versions"] if v.get("storage") is True],
    }


def invalid(kind, name, problems):
    """422 Invalid, with the fields named as the real server names them."""
    causes = [{"reason": "FieldValueInvalid", "message": message, "field": field}
              for field, message in problems]
    text = ", ".join("%s: %s" % (field, message) for field, message in problems)
    return ApiError(422, "Invalid", "%s \"%s\" is invalid: %s" % (kind, name, text),
                    {"name": name, "kind": kind, "causes": causes})


# ---------------------------------------------------------------------------------------------
# Selectors


def split_top_level(text):
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def parse_label_selector(text):
    """Returns [(key, op, values)]; raises ApiError 400 on a malformed selector."""
    requirements = []
    if text is None or not text.strip():
        return requirements
    for raw in split_top_level(text):
        term = raw.strip()
        match = re.fullmatch(r"(\S+)\s+(in|notin)\s*\((.*)\)", term)
        if match:
            key, op = match.group(1), match.group(2)
            values = [v.strip() for v in match.group(3).split(",")]
        elif term.startswith("!"):
            key, op, values = term[1:].strip(), "!", []
        elif "!=" in term:
            key, value = term.split("!=", 1)
            op, values = "!=", [value.strip()]
        elif "==" in term:
            key, value = term.split("==", 1)
            op, values = "=", [value.strip()]
        elif "=" in term:
            key, value = term.split("=", 1)
            op, values = "=", [value.strip()]
        elif ">" in term or "<" in term:
            op = ">" if ">" in term else "<"
            key, value = term.split(op, 1)
            if not re.fullmatch(r"-?\d+", value.strip()):
                raise bad_request("unable to parse requirement: for 'Gt', 'Lt' operators, the "
                                  "value must be an integer: %r" % term)
            values = [value.strip()]
        else:
            key, op, values = term, "exists", []
        key = key.strip()
        if not LABEL_NAME.match(key):
            raise bad_request("unable to parse requirement: invalid label key %r in label "
                              "selector %r" % (key, text))
        for value in values:
            if not LABEL_VALUE.match(value):
                raise bad_request("unable to parse requirement: invalid label value %r in label "
                                  "selector %r" % (value, text))
        requirements.append((key, op, values))
    return requirements


def labels_match(requirements, obj):
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for key, op, values in requirements:
        present = key in labels
        value = labels.get(key)
        if op == "exists" and not present:
            return False
        if op == "!" and present:
            return False
        if op in ("=", "in") and (not present or value not in values):
            return False
        if op in ("!=", "notin") and present and value in values:
            return False
        if op in (">", "<"):
            try:
                number = int(value)
            except (TypeError, ValueError):
                return False
            if (op == ">" and not number > int(values[0])) or (
                    op == "<" and not number < int(values[0])):
                return False
    return True


def parse_field_selector(text, resource_type):
    requirements = []
    if text is None or not text.strip():
        return requirements
    for raw in text.split(","):
        term = raw.strip()
        for op in ("!=", "==", "="):
            if op in term:
                field, value = term.split(op, 1)
                break
        else:
            raise bad_request("invalid selector: %r; can't understand %r" % (text, term))
        field = field.strip()
        if field not in resource_type.field_labels:
            raise bad_request("field label not supported: %s" % field)
        requirements.append((field, "!=" if op == "!=" else "=", value.strip()))
    return requirements


def field_value(obj, path):
    current = obj
    for part in path.split("."):
        if not isinstance(current, dict):
            return ""
        current = current.get(part)
    if current is None:
        return ""
    if isinstance(current, bool):
        return "true" if current else "false"
    return str(current)


def fields_match(requirements, obj):
    for field, op, value in requirements:
        actual = field_value(obj, field)
        if (op == "=") != (actual == value):
            return False
    return True


# ---------------------------------------------------------------------------------------------
# Patches


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target, patch):
    """Strategic merge patch without Go struct tags: a merge patch that honours the directives
    kubectl sends ($patch, $setElementOrder, $deleteFromPrimitiveList, $retainKeys). Lists are
    merged by key only where the patch names the key ($setElementOrder); otherwise replaced."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    result = dict(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key.startswith("$"):
            if key.startswith("$deleteFromPrimitiveList/"):
                field = key.split("/", 1)[1]
                if isinstance(result.get(field), list) and isinstance(value, list):
                    result[field] = [v for v in result[field] if v not in value]
            continue
        order = patch.get("$setElementOrder/" + key)
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and isinstance(order, list) and order and all(
                isinstance(entry, dict) and len(entry) == 1 for entry in order):
            result[key] = merge_keyed_list(result.get(key), value, order)
        elif isinstance(value, list):
            result[key] = [strategic_merge_patch(None, v) if isinstance(v, dict) else v
                           for v in value if not (isinstance(v, dict) and "$patch" in v)]
        else:
            merged = strategic_merge_patch(result.get(key), value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def merge_keyed_list(current, patch_items, order):
    merge_key = next(iter(order[0]))
    items = [copy.deepcopy(i) for i in (current if isinstance(current, list) else [])]
    for patch_item in patch_items:
        if not isinstance(patch_item, dict):
            continue
        key_value = patch_item.get(merge_key)
        index = next((n for n, item in enumerate(items)
                      if isinstance(item, dict) and item.get(merge_key) == key_value), None)
        merged = strategic_merge_patch(items[index] if index is not None else None, patch_item)
        if merged is None:
            if index is not None:
                del items[index]
        elif index is None:
            items.append(merged)
        else:
            items[index] = merged
    wanted = [entry[merge_key] for entry in order]
    ranked = {value: n for n, value in enumerate(wanted)}
    return sorted(items, key=lambda item: ranked.get(
        item.get(merge_key) if isinstance(item, dict) else None, len(wanted)))


def json_pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request("invalid JSON pointer %r" % path)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def json_patch(document, operations):
    """RFC 6902 JSON patch."""
    if not isinstance(operations, list):
        raise bad_request("a JSON patch must be a list of operations")
    document = copy.deepcopy(document)

    def parent_of(parts):
        node = document
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def get(parts):
        node = document
        for part in parts:
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def remove(parts):
        parent = parent_of(parts)
        if isinstance(parent, list):
            return parent.pop(int(parts[-1]))
        return parent.pop(parts[-1])

    def add(parts, value):
        nonlocal document
        if not parts:
            document = value
            return
        parent = parent_of(parts)
        if isinstance(parent, list):
            parent.insert(len(parent) if parts[-1] == "-" else int(parts[-1]), value)
        else:
            parent[parts[-1]] = value

    for operation in operations:
        try:
            op = operation["op"]
            path = json_pointer(operation["path"])
            if op == "add":
                add(path, copy.deepcopy(operation["value"]))
            elif op == "remove":
                remove(path)
            elif op == "replace":
                remove(path)
                add(path, copy.deepcopy(operation["value"]))
            elif op == "move":
                value = remove(json_pointer(operation["from"]))
                add(path, value)
            elif op == "copy":
                add(path, copy.deepcopy(get(json_pointer(operation["from"]))))
            elif op == "test":
                if get(path) != operation["value"]:
                    raise ApiError(422, "Invalid", "the server rejected our request due to an "
                                   "error in our request: test failed at %s" % operation["path"])
            else:
                raise bad_request("unknown JSON patch operation %r" % op)
        except ApiError:
            raise
        except (KeyError, IndexError, ValueError, TypeError, AttributeError) as error:
            raise ApiError(422, "Invalid", "the server rejected our request due to an error in "
                           "our request: JSON patch %r failed: %s" % (operation, error))
    return document


# ---------------------------------------------------------------------------------------------
# The store


class Event:
    __slots__ = ("rv", "resource_key", "namespace", "type", "obj", "previous")

    def __init__(self, rv, resource_key, namespace, event_type, obj, previous):
        self.rv = rv
        self.resource_key = resource_key
        self.namespace = namespace
        self.type = event_type
        self.obj = obj
        self.previous = previous


CLOSE_WATCH = object()


class Watcher:
    def __init__(self, resource_key, namespace):
        self.resource_key = resource_key
        self.namespace = namespace
        self.events = queue.Queue()  # unbounded: writers never block on a slow watch


class Store:
    """Objects, the global resourceVersion, the event history and the open watches."""

    def __init__(self, history):
        self.lock = threading.Lock()
        self.rv = 0
        self.compacted_rv = 0  # the newest event dropped from the history
        self.history = deque()
        self.history_limit = history
        self.types = {}  # (group, plural) -> ResourceType
        self.objects = {}  # (group, plural) -> {(namespace, name): object}
        self.watchers = set()
        for resource_type in builtin_types():
            self.register(resource_type)
        for namespace in ("default", "kube-system"):
            self.commit(self.types[("", "namespaces")], "", namespace, "ADDED",
                        self.new_namespace(namespace), None)

    # -- types (caller holds the lock, or is the constructor) --

    def register(self, resource_type):
        self.types[resource_type.key] = resource_type
        self.objects.setdefault(resource_type.key, {})

    def lookup(self, group, version, plural):
        with self.lock:
            resource_type = self.types.get((group, plural))
            if resource_type is None or version not in resource_type.versions:
                return None
            return resource_type

    def groups(self):
        """{group: [versions, preferred first]} of everything served."""
        with self.lock:
            groups = {}
            for resource_type in self.types.values():
                versions = groups.setdefault(resource_type.group, [])
                for version in resource_type.versions:
                    if version not in versions:
                        versions.append(version)
            return {g: sorted_versions(v) for g, v in groups.items()}

    def types_for(self, group, version):
        with self.lock:
            return [t for t in self.types.values()
                    if t.group == group and version in t.versions]

    @staticmethod
    def new_namespace(name):
        return {"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "uid": str(uuid.uuid4()),
                             "creationTimestamp": now_rfc3339(),
                             "labels": {NAMESPACE_NAME_LABEL: name}},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}

    # -- writes (caller holds the lock) --

    def commit(self, resource_type, namespace, name, event_type, obj, previous):
        """Stores one write under the next resourceVersion and hands it to the watches."""
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        bucket = self.objects[resource_type.key]
        if event_type == "DELETED":
            bucket.pop((namespace, name), None)
        else:
            bucket[(namespace, name)] = obj
        event = Event(self.rv, resource_type.key, namespace, event_type, copy.deepcopy(obj),
                      copy.deepcopy(previous) if previous is not None else None)
        self.history.append(event)
        while len(self.history) > self.history_limit:
            self.compacted_rv = self.history.popleft().rv
        for watcher in self.watchers:
            if watcher.resource_key == resource_type.key and (
                    watcher.namespace is None or watcher.namespace == namespace):
                watcher.events.put(event)
        return obj

    def delete_locked(self, resource_type, namespace, name, orphan=False):
        """Deletes one object and what it owns (a namespace's objects, a CRD's resources, and,
        unless `orphan`, the objects whose ownerReferences all name deleted objects)."""
        current = self.objects[resource_type.key][(namespace, name)]
        if resource_type.key == ("", "namespaces"):
            for other in list(self.types.values()):
                if other.namespaced:
                    for (ns, other_name) in sorted(self.objects[other.key]):
                        if ns == name:
                            self.delete_locked(other, ns, other_name)
        if resource_type.key == ("apiextensions.k8s.io", "customresourcedefinitions"):
            served = next((t for t in self.types.values() if t.crd_name == name), None)
            if served is not None:
                for (ns, other_name) in sorted(self.objects[served.key]):
                    self.delete_locked(served, ns, other_name)
                del self.types[served.key]
                del self.objects[served.key]
                for watcher in self.watchers:
                    if watcher.resource_key == served.key:
                        watcher.events.put(CLOSE_WATCH)
        deleted = copy.deepcopy(current)
        result = self.commit(resource_type, namespace, name, "DELETED", deleted, current)
        if not orphan:
            self.collect_garbage_locked(current["metadata"].get("uid"))
        return result

    def collect_garbage_locked(self, owner_uid):
        """The garbage collector, background propagation (the API's default): once an owner is
        gone, each dependent none of whose owners exists any more is deleted after it."""
        if not owner_uid:
            return
        existing = None
        for other in list(self.types.values()):
            for key in sorted(self.objects.get(other.key, {})):
                obj = self.objects.get(other.key, {}).get(key)
                refs = (obj or {}).get("metadata", {}).get("ownerReferences") or []
                uids = [r.get("uid") for r in refs if isinstance(r, dict)]
                if owner_uid not in uids:
                    continue
                if existing is None:
                    existing = {o["metadata"].get("uid") for bucket in self.objects.values()
                                for o in bucket.values()}
                if not any(uid in existing for uid in uids):
                    self.delete_locked(other, key[0], key[1])


# ---------------------------------------------------------------------------------------------
# HTTP


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # A client opens a watch per resource at once (brindled: ~20); the default backlog of 5 made
    # some connects wait for a SYN retransmit (1 s). Go's listener, the real server's, uses the
    # system's maximum.
    request_queue_size = 128

    def __init__(self, address, handler, store, token, tls_context, family, token_file=None,
                 min_request_timeout=None):
        self.address_family = family
        self.store = store
        self.token = token
        self.token_file = token_file
        self.min_request_timeout = min_request_timeout
        self.tls_context = tls_context
        self.stopping = threading.Event()
        self.active_watches = 0
        self.active_watches_lock = threading.Lock()
        super().__init__(address, handler)

    def handle_error(self, request, client_address):
        error = sys.exc_info()[1]
        if isinstance(error, (ssl.SSLError, ConnectionError, TimeoutError)):
            log("%s: connection dropped: %s" % (client_address[0], error))
        else:
            super().handle_error(request, client_address)

    def get_request(self):
        connection, address = super().get_request()
        # Headers and body go out in separate writes: without this, Nagle + delayed ACK add
        # ~40 ms to every keep-alive request.
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls_context is not None:
            # The handshake runs in the handler's thread (first read), not in the accept loop.
            connection = self.tls_context.wrap_socket(connection, server_side=True,
                                                      do_handshake_on_connect=False)
        return connection, address


class Route:
    """A parsed resource URL."""

    def __init__(self, resource_type, version, namespace, name, subresource):
        self.type = resource_type
        self.version = version
        self.namespace = namespace  # None: all namespaces (or cluster-scoped)
        self.name = name
        self.subresource = subresource

    @property
    def api_version(self):
        return self.type.group_version(self.version)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-kube-apiserver/1.20"
    sys_version = ""

    def log_message(self, fmt, *args):
        log("%s %s" % (self.address_string(), fmt % args))

    def do_GET(self):
        self.handle_api("GET")

    def do_POST(self):
        self.handle_api("POST")

    def do_PUT(self):
        self.handle_api("PUT")

    def do_PATCH(self):
        self.handle_api("PATCH")

    def do_DELETE(self):
        self.handle_api("DELETE")

    # -- plumbing --

    @property
    def store(self):
        return self.server.store

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_json(self, code, obj, content_type="application/json"):
        data = json.dumps(obj, separators=(",", ":")).encode() + b"\n"
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_text(self, code, text):
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def accepted_tokens(self):
        """None when no token is required; else the tokens that are valid now."""
        if self.server.token_file is None:
            return None if self.server.token is None else [self.server.token]
        try:  # read per request: a test rotates the tokens (one per line)
            with open(self.server.token_file, encoding="utf-8") as f:
                return [line.strip() for line in f if line.strip()]
        except OSError:
            return []

    def authorized(self):
        tokens = self.accepted_tokens()
        if tokens is None:
            return True
        header = self.headers.get("Authorization", "").encode()
        return any(hmac.compare_digest(header, ("Bearer " + t).encode()) for t in tokens)

    def handle_api(self, method):
        try:
            body = self.read_body()
        except (ValueError, OSError) as error:
            self.close_connection = True
            self.send_json(400, status_object(400, "BadRequest", "unreadable body: %s" % error))
            return
        if not self.authorized():
            self.send_json(401, status_object(401, "Unauthorized", "Unauthorized"))
            return
        url = urllib.parse.urlsplit(self.path)
        query = {}
        for key, value in urllib.parse.parse_qsl(url.query, keep_blank_values=True):
            query[key] = value
        try:
            self.route(method, url.path.rstrip("/") or "/", query, body)
        except ApiError as error:
            self.send_json(error.code, error.status())
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True
        except Exception as error:  # a bug here must answer 500, not kill the connection
            log("internal error on %s %s: %r" % (method, self.path, error))
            self.send_json(500, status_object(500, "InternalError",
                                              "Internal error occurred: %r" % (error,)))

    # -- routing --

    def route(self, method, path, query, body):
        parts = [urllib.parse.unquote(p) for p in path.split("/") if p]
        if path in ("/healthz", "/livez", "/readyz"):
            return self.send_text(200, "ok")
        if method == "GET" and path == "/version":
            return self.send_json(200, SERVER_VERSION)
        if parts and parts[0] == "openapi":
            raise not_found_resource()
        if method == "GET" and parts == ["api"]:
            host = "%s:%d" % self.server.server_address[:2]
            return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"],
                                        "serverAddressByClientCIDRs": [
                                            {"clientCIDR": "0.0.0.0/0", "serverAddress": host}]})
        if method == "GET" and parts == ["apis"]:
            groups = [self.api_group(g, v) for g, v in sorted(self.store.groups().items()) if g]
            return self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1",
                                        "groups": groups})
        if method == "GET" and len(parts) == 2 and parts[0] == "apis":
            versions = self.store.groups().get(parts[1])
            if not versions:
                raise not_found_resource()
            group = self.api_group(parts[1], versions)
            group.update({"kind": "APIGroup", "apiVersion": "v1"})
            return self.send_json(200, group)
        if parts[:1] == ["api"] and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise not_found_resource()
        if not rest:
            if method != "GET":
                raise not_found_resource()
            types = self.store.types_for(group, version)
            if not types:
                raise not_found_resource()
            resources = [e for t in sorted(types, key=lambda t: t.plural)
                         for e in t.discovery_entries()]
            return self.send_json(200, {"kind": "APIResourceList", "apiVersion": "v1",
                                        "groupVersion": "%s/%s" % (group, version) if group
                                        else version, "resources": resources})
        self.handle_resource(method, self.parse_route(group, version, rest), query, body)

    @staticmethod
    def api_group(name, versions):
        entries = [{"groupVersion": "%s/%s" % (name, v), "version": v} for v in versions]
        return {"name": name, "versions": entries, "preferredVersion": entries[0]}

    def parse_route(self, group, version, rest):
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
            resource_type = self.store.lookup(group, version, rest[0])
            if resource_type is None or not resource_type.namespaced:
                raise not_found_resource()
        else:
            resource_type = self.store.lookup(group, version, rest[0])
            if resource_type is None:
                raise not_found_resource()
        if len(rest) > 3:
            raise not_found_resource()
        name = rest[1] if len(rest) >= 2 else None
        subresource = rest[2] if len(rest) == 3 else None
        if subresource is not None and (subresource != "status" or not resource_type.has_status):
            raise not_found_resource()
        return Route(resource_type, version, namespace, name, subresource)

    def handle_resource(self, method, route, query, body):
        dry_run = query.get("dryRun") == "All"
        if route.name is None:
            if method == "GET":
                if query.get("watch") in ("1", "true", "True"):
                    return self.watch(route, query)
                return self.list(route, query)
            if method == "POST":
                if route.type.namespaced and route.namespace is None:
                    raise ApiError(405, "MethodNotAllowed", "the server does not allow this "
                                   "method on the requested resource", {})
                return self.create(route, body, dry_run)
            if method == "DELETE":
                return self.delete_collection(route, query, dry_run)
            raise ApiError(405, "MethodNotAllowed",
                           "the server does not allow this method on the requested resource", {})
        if route.type.namespaced and route.namespace is None:
            raise not_found_resource()
        if method == "GET":
            return self.send_json(200, self.present(route, self.get_object(route)))
        if method == "PUT":
            return self.update(route, body, dry_run)
        if method == "PATCH":
            return self.patch(route, body, dry_run)
        if method == "DELETE" and route.subresource is None:
            return self.delete(route, body, dry_run)
        raise ApiError(405, "MethodNotAllowed",
                       "the server does not allow this method on the requested resource", {})

    # -- helpers --

    @staticmethod
    def present(route, obj, in_list=False):
        """An object as the client sees it at the route's version."""
        shown = copy.deepcopy(obj)
        shown["apiVersion"] = route.api_version
        shown["kind"] = route.type.kind
        if in_list and route.type.crd_name is None:
            # Built-in types' list items carry no kind/apiVersion, as with the real server.
            shown.pop("apiVersion", None)
            shown.pop("kind", None)
            return shown
        return {"apiVersion": shown.pop("apiVersion"), "kind": shown.pop("kind"), **shown}

    def not_found(self, route, name=None):
        name = name or route.name
        return ApiError(404, "NotFound", '%s "%s" not found' % (route.type.qualified(), name),
                        route.type.details(name))

    def object_key(self, route):
        return (route.namespace or "", route.name)

    def get_object(self, route):
        with self.store.lock:
            obj = self.store.objects.get(route.type.key, {}).get(self.object_key(route))
            if obj is None:
                raise self.not_found(route)
            return copy.deepcopy(obj)

    def decode_body(self, body, route, for_name):
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type not in ("", "application/json", "*/*"):
            # JSON only (no protobuf, no YAML): newer clients retry with JSON on a 415.
            raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an "
                           "unknown format - accepted media types include: application/json", {})
        try:
            obj = json.loads(body.decode("utf-8")) if body else None
        except (UnicodeDecodeError, ValueError) as error:
            raise bad_request("the object provided is unrecognized: couldn't decode the request "
                              "body as JSON: %s" % error)
        if not isinstance(obj, dict):
            raise bad_request("the object provided is unrecognized: the request body must be a "
                              "JSON object (%s)" % ("empty body" if obj is None else
                                                    type(obj).__name__))
        api_version = obj.get("apiVersion")
        kind = obj.get("kind")
        if api_version is not None and api_version != route.api_version:
            raise bad_request("the API version in the data (%s) does not match the expected API "
                              "version (%s)" % (api_version, route.api_version))
        if kind is not None and kind != route.type.kind:
            raise bad_request("the kind in the data (%s) does not match the expected kind (%s): "
                              "field kind" % (kind, route.type.kind))
        metadata = obj.get("metadata")
        if metadata is None:
            metadata = obj["metadata"] = {}
        if not isinstance(metadata, dict):
            raise bad_request("the object provided is unrecognized: metadata must be an object")
        self.check_namespace_field(route, metadata)
        if for_name is not None and metadata.get("name") not in (None, for_name):
            raise bad_request("the name of the object (%s) does not match the name on the URL "
                              "(%s)" % (metadata.get("name"), for_name))
        obj["apiVersion"] = route.api_version
        obj["kind"] = route.type.kind
        return obj

    def check_namespace_field(self, route, metadata):
        namespace = metadata.get("namespace")
        if route.type.namespaced:
            if namespace not in (None, "", route.namespace):
                raise bad_request("the namespace of the provided object does not match the "
                                  "namespace sent on the request (field metadata.namespace)")
            metadata["namespace"] = route.namespace
        else:
            metadata.pop("namespace", None)

    def validate_metadata(self, route, obj):
        metadata = obj["metadata"]
        name = metadata.get("name")
        problems = []
        pattern = DNS_LABEL if route.type.key == ("", "namespaces") else DNS_SUBDOMAIN
        if not isinstance(name, str) or not pattern.match(name) or len(name) > 253:
            problems.append(("metadata.name", "Invalid value: %r: a lowercase RFC 1123 %s must "
                             "consist of lower case alphanumeric characters, '-' or '.'" % (
                                 name, "label" if pattern is DNS_LABEL else "subdomain")))
        for field in ("labels", "annotations"):
            values = metadata.get(field)
            if values is None:
                continue
            if not isinstance(values, dict) or not all(
                    isinstance(v, str) for v in values.values()):
                problems.append(("metadata." + field, "Invalid value: must be a map of string "
                                 "to string"))
            elif field == "labels":
                for key, value in values.items():
                    if not LABEL_NAME.match(key):
                        problems.append(("metadata.labels", "Invalid value: %r: name part must "
                                         "consist of alphanumeric characters" % key))
                    if not LABEL_VALUE.match(value):
                        problems.append(("metadata.labels", "Invalid value: %r: a valid label "
                                         "must be an empty string or consist of alphanumeric "
                                         "characters, '-', '_' or '.'" % value))
        if problems:
            raise invalid(route.type.kind, name if isinstance(name, str) else "", problems)

    @staticmethod
    def without_volatile(obj):
        trimmed = copy.deepcopy(obj)
        trimmed.get("metadata", {}).pop("resourceVersion", None)
        trimmed.get("metadata", {}).pop("generation", None)
        return trimmed

    def conflict(self, route, name, detail):
        return ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": %s' % (
            route.type.qualified(), name, detail), route.type.details(name))

    # -- verbs --

    def list(self, route, query):
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"), route.type)
        limit = query.get("limit")
        try:
            limit = int(limit) if limit not in (None, "") else 0
        except ValueError:
            raise bad_request("invalid limit %r" % limit)
        start_after = None
        token = query.get("continue")
        if token:
            try:
                decoded = json.loads(base64.urlsafe_b64decode(token.encode()).decode())
                start_after = tuple(decoded["start"])
            except (ValueError, KeyError, TypeError):
                raise bad_request("continue key is not valid: %r" % token)
        with self.store.lock:
            list_rv = self.store.rv
            keys = sorted(k for k in self.store.objects.get(route.type.key, {})
                          if route.namespace is None or k[0] == route.namespace)
            if start_after is not None:
                keys = [k for k in keys if k > start_after]
            matching = []
            for key in keys:
                obj = self.store.objects[route.type.key][key]
                if labels_match(labels, obj) and fields_match(fields, obj):
                    matching.append(copy.deepcopy(obj))
        metadata = {"resourceVersion": str(list_rv)}
        if limit > 0 and len(matching) > limit:
            last = matching[limit - 1]["metadata"]
            metadata["continue"] = base64.urlsafe_b64encode(json.dumps(
                {"rv": list_rv, "start": [last.get("namespace", ""), last["name"]]}).encode()
            ).decode()
            metadata["remainingItemCount"] = len(matching) - limit
            matching = matching[:limit]
        table = self.wants_table()
        if table:
            return self.send_json(200, self.table(route, matching, table, list_rv, query,
                                                  metadata))
        self.send_json(200, {"kind": route.type.list_kind, "apiVersion": route.api_version,
                             "metadata": metadata,
                             "items": [self.present(route, o, in_list=True) for o in matching]})

    def create(self, route, body, dry_run):
        obj = self.decode_body(body, route, None)
        metadata = obj["metadata"]
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = metadata["generateName"] + uuid.uuid4().hex[:5]
        if not metadata.get("name"):
            raise invalid(route.type.kind, "", [("metadata.name", "Required value: name or "
                                                 "generateName is required")])
        self.validate_metadata(route, obj)
        name = metadata["name"]
        if metadata.get("resourceVersion"):
            raise bad_request("resourceVersion should not be set on objects to be created "
                              "(field metadata.resourceVersion)")
        for field in ("uid", "creationTimestamp", "deletionTimestamp", "selfLink"):
            metadata.pop(field, None)
        metadata["uid"] = str(uuid.uuid4())
        metadata["creationTimestamp"] = now_rfc3339()
        if route.type.crd_name is not None or route.type.key[0] == "apiextensions.k8s.io" or \
                route.type.key == ("networking.k8s.io", "networkpolicies"):
            metadata["generation"] = 1
        if route.type.has_status:
            obj.pop("status", None)  # status is written through the /status subresource
        if route.type.key == ("", "namespaces"):
            set_namespace_name_label(obj)
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            obj["status"] = {"phase": "Active"}
        elif route.type.key == ("", "pods"):
            obj["status"] = {"phase": "Pending"}
        crd_type = None
        if route.type.key == ("apiextensions.k8s.io", "customresourcedefinitions"):
            crd_type = crd_resource_type(obj)
            obj["status"] = crd_accepted_status(obj)
        with self.store.lock:
            if route.type.key not in self.store.types:
                raise not_found_resource()
            if route.type.namespaced and ("", route.namespace) not in \
                    self.store.objects[("", "namespaces")]:
                raise ApiError(404, "NotFound", 'namespaces "%s" not found' % route.namespace,
                               {"name": route.namespace, "kind": "namespaces"})
            bucket = self.store.objects[route.type.key]
            if (route.namespace or "", name) in bucket:
                raise ApiError(409, "AlreadyExists", '%s "%s" already exists' % (
                    route.type.qualified(), name), route.type.details(name))
            if crd_type is not None:
                taken = self.store.types.get(crd_type.key)
                if taken is not None:
                    raise invalid("CustomResourceDefinition", name, [
                        ("spec.names.plural", "Invalid value: %r: already served" %
                         crd_type.plural)])
            if dry_run:
                obj["metadata"]["resourceVersion"] = ""
                result = obj
            else:
                result = copy.deepcopy(self.store.commit(route.type, route.namespace or "", name,
                                                         "ADDED", obj, None))
                if crd_type is not None:
                    self.store.register(crd_type)
        self.send_json(201, self.present(route, result))

    def apply_update(self, route, current, updated, precondition_rv, dry_run):
        """Writes `updated` over `current` (the lock is held): conflict check, kept fields."""
        metadata = updated["metadata"]
        if precondition_rv and precondition_rv != current["metadata"]["resourceVersion"]:
            raise self.conflict(route, route.name, "the object has been modified; please apply "
                                "your changes to the latest version and try again")
        if metadata.get("name") != route.name:
            raise bad_request("the name of the object (%s) does not match the name on the URL "
                              "(%s) (field metadata.name)" % (metadata.get("name"), route.name))
        for field in ("uid", "creationTimestamp", "generation"):
            if field in current["metadata"]:
                metadata[field] = current["metadata"][field]
            else:
                metadata.pop(field, None)
        if route.type.has_status:
            if route.subresource == "status":
                kept = copy.deepcopy(current)
                kept["status"] = updated.get("status")
                if kept["status"] is None:
                    kept.pop("status")
                updated = kept
            elif "status" in current:
                updated["status"] = copy.deepcopy(current["status"])
            else:
                updated.pop("status", None)
        if "generation" in metadata and {k: v for k, v in updated.items()
                                         if k not in ("metadata", "status")} != \
                {k: v for k, v in current.items() if k not in ("metadata", "status")}:
            metadata["generation"] = current["metadata"]["generation"] + 1
        self.validate_metadata(route, updated)
        if route.type.key == ("", "namespaces"):
            set_namespace_name_label(updated)
        crd_type = None
        if route.type.key == ("apiextensions.k8s.io", "customresourcedefinitions") and \
                route.subresource is None:
            crd_type = crd_resource_type(updated)
            old_type = crd_resource_type(current)
            if crd_type.key != old_type.key:
                raise invalid("CustomResourceDefinition", route.name, [
                    ("spec.names.plural", "Invalid value: field is immutable here")])
            updated["status"] = crd_accepted_status(updated)
        if self.without_volatile(updated) == self.without_volatile(current):
            return current  # a no-op write keeps the resourceVersion, as etcd's does
        if dry_run:
            return updated
        result = self.store.commit(route.type, route.namespace or "", route.name, "MODIFIED",
                                   updated, current)
        if crd_type is not None:
            self.store.register(crd_type)
        return result

    def update(self, route, body, dry_run):
        updated = self.decode_body(body, route, route.name)
        updated["metadata"].setdefault("name", route.name)
        precondition = updated["metadata"].get("resourceVersion")
        with self.store.lock:
            current = self.store.objects.get(route.type.key, {}).get(self.object_key(route))
            if current is None:
                raise self.not_found(route)
            result = copy.deepcopy(self.apply_update(route, current, updated, precondition,
                                                     dry_run))
        self.send_json(200, self.present(route, result))

    def patch(self, route, body, dry_run):
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type not in ("application/merge-patch+json",
                                "application/strategic-merge-patch+json",
                                "application/json-patch+json"):
            raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an "
                           "unknown format - accepted media types include: "
                           "application/json-patch+json, application/merge-patch+json, "
                           "application/strategic-merge-patch+json", {})
        try:
            patch = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise bad_request("the body of the request could not be decoded as JSON: %s" % error)
        with self.store.lock:
            current = self.store.objects.get(route.type.key, {}).get(self.object_key(route))
            if current is None:
                raise self.not_found(route)
            if content_type == "application/json-patch+json":
                updated = json_patch(current, patch)
            elif not isinstance(patch, dict):
                raise bad_request("a merge patch must be a JSON object")
            elif content_type == "application/merge-patch+json":
                updated = merge_patch(current, patch)
            else:
                updated = strategic_merge_patch(current, patch)
            if not isinstance(updated, dict) or not isinstance(updated.get("metadata"), dict):
                raise ApiError(422, "Invalid", "the patched object has no metadata")
            if updated.get("apiVersion") != current.get("apiVersion") or \
                    updated.get("kind") != current.get("kind"):
                raise bad_request("a patch must not change apiVersion or kind")
            metadata = updated["metadata"]
            if route.type.namespaced and metadata.get("namespace") != route.namespace:
                raise bad_request("the namespace of the provided object does not match the "
                                  "namespace sent on the request (field metadata.namespace)")
            precondition = None
            patch_metadata = patch.get("metadata") if isinstance(patch, dict) else None
            if isinstance(patch_metadata, dict) and patch_metadata.get("resourceVersion"):
                precondition = patch_metadata["resourceVersion"]
            if metadata.get("uid") != current["metadata"]["uid"]:
                raise self.conflict(route, route.name, "Precondition failed: UID in precondition:"
                                    " %s, UID in object meta: %s" % (
                                        metadata.get("uid"), current["metadata"]["uid"]))
            result = copy.deepcopy(self.apply_update(route, current, updated, precondition,
                                                     dry_run))
        self.send_json(200, self.present(route, result))

    def delete(self, route, body, dry_run):
        options = {}
        if body.strip():
            try:
                options = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as error:
                raise bad_request("the body of the request could not be decoded as "
                                  "DeleteOptions: %s" % error)
            if not isinstance(options, dict):
                raise bad_request("DeleteOptions must be a JSON object")
        preconditions = options.get("preconditions") or {}
        if route.type.key == ("", "namespaces") and route.name in UNDELETABLE_NAMESPACES:
            raise ApiError(403, "Forbidden", 'namespaces "%s" is forbidden: this namespace may '
                           'not be deleted' % route.name, {"name": route.name,
                                                           "kind": "namespaces"})
        with self.store.lock:
            current = self.store.objects.get(route.type.key, {}).get(self.object_key(route))
            if current is None:
                raise self.not_found(route)
            expected_rv = preconditions.get("resourceVersion")
            if expected_rv and expected_rv != current["metadata"]["resourceVersion"]:
                raise self.conflict(route, route.name, "Precondition failed: ResourceVersion in "
                                    "precondition: %s, ResourceVersion in object meta: %s" % (
                                        expected_rv, current["metadata"]["resourceVersion"]))
            expected_uid = preconditions.get("uid")
            if expected_uid and expected_uid != current["metadata"]["uid"]:
                raise self.conflict(route, route.name, "Precondition failed: UID in "
                                    "precondition: %s, UID in object meta: %s" % (
                                        expected_uid, current["metadata"]["uid"]))
            orphan = options.get("propagationPolicy") == "Orphan" or options.get(
                "orphanDependents") is True
            if dry_run:
                result = copy.deepcopy(current)
            else:
                result = copy.deepcopy(self.store.delete_locked(route.type, route.namespace or "",
                                                                route.name, orphan=orphan))
        self.send_json(200, self.present(route, result))

    def delete_collection(self, route, query, dry_run):
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"), route.type)
        deleted = []
        with self.store.lock:
            bucket = self.store.objects.get(route.type.key, {})
            for key in sorted(bucket):
                obj = bucket.get(key)
                if obj is None or (route.namespace is not None and key[0] != route.namespace):
                    continue
                if not (labels_match(labels, obj) and fields_match(fields, obj)):
                    continue
                if route.type.key == ("", "namespaces") and key[1] in UNDELETABLE_NAMESPACES:
                    continue
                if dry_run:
                    deleted.append(copy.deepcopy(obj))
                else:
                    deleted.append(copy.deepcopy(self.store.delete_locked(route.type, key[0],
                                                                          key[1])))
            list_rv = self.store.rv
        self.send_json(200, {"kind": route.type.list_kind, "apiVersion": route.api_version,
                             "metadata": {"resourceVersion": str(list_rv)},
                             "items": [self.present(route, o, in_list=True) for o in deleted]})

    # -- tables (kubectl get's server-side printing) --

    def wants_table(self):
        for media_range in (self.headers.get("Accept") or "").split(","):
            params = dict(p.strip().split("=", 1) for p in media_range.split(";")[1:]
                          if "=" in p)
            if params.get("as") == "Table" and params.get("g") == "meta.k8s.io" and \
                    params.get("v") in ("v1", "v1beta1"):
                return params["v"]
        return None

    def table(self, route, objects, table_version, rv, query, list_metadata=None,
              with_columns=True):
        columns = [("Name", "string", ".metadata.name", 0)] + route.type.printer_columns + \
            [("Age", "date", ".metadata.creationTimestamp", 0)]
        include = query.get("includeObject", "Metadata")
        rows = []
        for obj in objects:
            cells = []
            for _, column_type, path, _ in columns:
                value = field_value(obj, path.lstrip("."))
                cells.append(human_age(value) if column_type == "date" else value)
            row = {"cells": cells}
            if include == "Object":
                row["object"] = self.present(route, obj)
            elif include != "None":
                row["object"] = {"kind": "PartialObjectMetadata", "apiVersion":
                                 "meta.k8s.io/" + table_version,
                                 "metadata": copy.deepcopy(obj["metadata"])}
            rows.append(row)
        table = {"kind": "Table", "apiVersion": "meta.k8s.io/" + table_version,
                 "metadata": list_metadata or {"resourceVersion": str(rv)}}
        if with_columns:
            table["columnDefinitions"] = [
                {"name": name, "type": column_type, "format": "name" if name == "Name" else "",
                 "description": name, "priority": priority}
                for name, column_type, _, priority in columns]
        table["rows"] = rows
        return table

    # -- watch --

    def watch(self, route, query):
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"), route.type)
        start = query.get("resourceVersion", "")
        if start not in ("", "0") and not re.fullmatch(r"\d+", start):
            raise bad_request("invalid resource version %r" % start)
        timeout = None
        if query.get("timeoutSeconds"):
            try:
                timeout = float(query["timeoutSeconds"])
            except ValueError:
                raise bad_request("invalid timeoutSeconds %r" % query["timeoutSeconds"])
        elif self.server.min_request_timeout is not None:
            # As kube-apiserver: a watch without timeoutSeconds ends after a random time in
            # [min-request-timeout, 2 * min-request-timeout) (1800 s by default there).
            base = self.server.min_request_timeout
            timeout = base + random.random() * base
        bookmarks = query.get("allowWatchBookmarks") in ("1", "true", "True")
        table_version = self.wants_table()
        watcher = Watcher(route.type.key, route.namespace)
        initial = []
        expired = None
        with self.store.lock:
            if start in ("", "0"):
                for key in sorted(self.store.objects.get(route.type.key, {})):
                    if route.namespace is None or key[0] == route.namespace:
                        obj = self.store.objects[route.type.key][key]
                        initial.append(Event(int(obj["metadata"]["resourceVersion"]),
                                             route.type.key, key[0], "ADDED",
                                             copy.deepcopy(obj), None))
            elif int(start) < self.store.compacted_rv:
                expired = "too old resource version: %s (%d)" % (start,
                                                                 self.store.compacted_rv + 1)
            else:
                initial = [e for e in self.store.history
                           if e.rv > int(start) and e.resource_key == route.type.key and (
                               route.namespace is None or e.namespace == route.namespace)]
            if expired is None:
                self.store.watchers.add(watcher)
        with self.server.active_watches_lock:
            self.server.active_watches += 1
        self.close_connection = True
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-cache, private")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            if expired is not None:
                self.send_event("ERROR", status_object(410, "Expired", expired))
            else:
                self.stream(route, watcher, initial, labels, fields, timeout, bookmarks,
                            table_version, query, int(start or 0))
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            pass
        finally:
            with self.store.lock:
                self.store.watchers.discard(watcher)
            with self.server.active_watches_lock:
                self.server.active_watches -= 1

    def send_event(self, event_type, obj):
        data = json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode()
        data += b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def client_gone(self):
        connection = self.connection
        try:
            readable, _, _ = select.select([connection], [], [], 0)
        except (OSError, ValueError):
            return True
        if not readable:
            return False
        previous_timeout = connection.gettimeout()
        try:
            connection.settimeout(0)
            if isinstance(connection, ssl.SSLSocket):
                return connection.recv(1) == b""
            return connection.recv(1, socket.MSG_PEEK) == b""
        except (ssl.SSLWantReadError, BlockingIOError):
            return False
        except OSError:
            return True
        finally:
            connection.settimeout(previous_timeout)

    def stream(self, route, watcher, initial, labels, fields, timeout, bookmarks,
               table_version, query, start_rv):
        deadline = time.monotonic() + timeout if timeout is not None else None
        last_sent = time.monotonic()

        def matches(obj):
            return obj is not None and labels_match(labels, obj) and fields_match(fields, obj)

        def emit(event_type, obj):
            if table_version:
                shown = self.table(route, [obj], table_version, obj["metadata"]["resourceVersion"],
                                   query)
            else:
                shown = self.present(route, obj)
            self.send_event(event_type, shown)

        def deliver(event):
            if event.rv <= start_rv and event.type != "ADDED":
                return
            now_matches = matches(event.obj)
            if event.type == "MODIFIED":
                was_matching = matches(event.previous)
                if now_matches and was_matching:
                    emit("MODIFIED", event.obj)
                elif now_matches:
                    emit("ADDED", event.obj)
                elif was_matching:
                    emit("DELETED", event.obj)
            elif now_matches:
                emit(event.type, event.obj)

        for event in initial:
            deliver(event)
        seen_rv = max([start_rv] + [e.rv for e in initial])
        while not self.server.stopping.is_set():
            wait = 1.0
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    return
            try:
                event = watcher.events.get(timeout=max(wait, 0.01))
            except queue.Empty:
                if self.client_gone():
                    return
                if bookmarks and time.monotonic() - last_sent >= BOOKMARK_INTERVAL_SECONDS:
                    with self.store.lock:
                        # Every write up to store.rv is already queued for this watch: once the
                        # queue is empty the watch has seen them all.
                        bookmark_rv = self.store.rv if watcher.events.empty() else None
                    if bookmark_rv is not None:
                        self.send_event("BOOKMARK", {
                            "kind": route.type.kind, "apiVersion": route.api_version,
                            "metadata": {"resourceVersion": str(bookmark_rv)}})
                        last_sent = time.monotonic()
                continue
            if event is CLOSE_WATCH:
                return
            if event.rv <= seen_rv:
                continue  # already sent from the history replay
            seen_rv = event.rv
            deliver(event)
            last_sent = time.monotonic()


# ---------------------------------------------------------------------------------------------


def parse_listen(text):
    match = re.fullmatch(r"\[([^\]]+)\]:(\d+)|([^:]+):(\d+)", text)
    if not match:
        raise SystemExit("--listen %r: expected HOST:PORT (e.g. 127.0.0.1:0 or [::1]:0)" % text)
    if match.group(1):
        return match.group(1), int(match.group(2)), socket.AF_INET6
    return match.group(3), int(match.group(4)), socket.AF_INET


def main():
    parser = argparse.ArgumentParser(description="A test Kubernetes API server (JSON only).")
    parser.add_argument("--listen", required=True, help="HOST:PORT; port 0 picks a free port")
    parser.add_argument("--token", help="require Authorization: Bearer TOKEN on every request")
    parser.add_argument("--token-file",
                        help="like --token, with the tokens (one per line) read from FILE at "
                             "every request")
    parser.add_argument("--min-request-timeout", type=float,
                        help="end a watch without timeoutSeconds after S to 2*S seconds, as "
                             "kube-apiserver's flag of that name (default: never)")
    parser.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate (chain)")
    parser.add_argument("--tls-key", help="the PEM private key of --tls-cert")
    parser.add_argument("--history", type=int, default=1000,
                        help="past events kept for watches (older: 410 Expired)")
    args = parser.parse_args()
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    if args.history < 1:
        parser.error("--history must be at least 1")
    if args.token and args.token_file:
        parser.error("--token and --token-file exclude each other")
    if args.min_request_timeout is not None and args.min_request_timeout <= 0:
        parser.error("--min-request-timeout must be positive")
    host, port, family = parse_listen(args.listen)
    tls_context = None
    if args.tls_cert:
        tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            tls_context.load_cert_chain(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as error:
            raise SystemExit("--tls-cert %s / --tls-key %s: %s" % (args.tls_cert, args.tls_key,
                                                                   error))
    store = Store(args.history)
    try:
        server = Server((host, port), Handler, store, args.token, tls_context, family,
                        token_file=args.token_file, min_request_timeout=args.min_request_timeout)
    except OSError as error:
        raise SystemExit("--listen %s: %s" % (args.listen, error))
    bound_port = server.server_address[1]
    shown_host = "[%s]" % host if family == socket.AF_INET6 else host
    scheme = "https" if tls_context else "http"

    stop = threading.Event()

    def on_signal(signum, _frame):
        log("signal %d: stopping" % signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                               name="serve", daemon=True)
    serving.start()
    print("ready %s://%s:%d" % (scheme, shown_host, bound_port), flush=True)
    log("listening on %s://%s:%d (token %s, history %d)" % (
        scheme, shown_host, bound_port,
        "required" if args.token or args.token_file else "off", args.history))
    while not stop.wait(0.5):
        pass
    server.stopping.set()
    with store.lock:
        for watcher in store.watchers:
            watcher.events.put(CLOSE_WATCH)
    server.shutdown()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        with server.active_watches_lock:
            if server.active_watches == 0:
                break
        time.sleep(0.05)
    server.server_close()
    log("stopped")


if __name__ == "__main__":
    main()
