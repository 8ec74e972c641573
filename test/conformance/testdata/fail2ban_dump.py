"""Runs fail2ban's filter over its own sample logs and prints what it finds.

This drives the installed fail2ban exactly as tests/samplestestcase.py does
(the same option blocks, constraints and added files), but instead of
checking the annotations it writes, as JSON lines, every filter variant
(its effective regexes) and every line it processed with fail2ban's result,
so that pinjail's filter can be compared with fail2ban's on all of them.

Usage: fail2ban_dump.py CHECKALL(0|1) TESTFILTERDIR > dump.jsonl
Run with TZ set as fail2ban's tests set it.
"""
import json
import os
import re
import sys

from fail2ban.client.filterreader import FilterReader
from fail2ban.server.filter import FileContainer, Filter
from fail2ban.server.ipdns import IPAddr
from fail2ban.tests.utils import CONFIG_DIR, TEST_NOW, setUpMyTime

LOGS = os.path.join(os.path.dirname(__import__('fail2ban.tests', fromlist=['x']).__file__), 'files', 'logs')
DIRECTIVE = re.compile(r"^#+ ?(failJSON|(?:file|filter)Options|addFILE):(.+)$")
CHECKALL = sys.argv[1] == '1'
TEST_FILTER_DIR = sys.argv[2]


def emit(o):
    sys.stdout.write(json.dumps(o, default=str) + "\n")


def plain(v):
    if isinstance(v, set):
        return sorted(map(str, v))
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, IPAddr):
        return str(v)
    return v


def read_filter(cache, variant, name, basedir, opts):
    if variant in cache:
        return cache[variant]
    flt = Filter(None)
    flt.returnRawHost = True
    flt.checkAllRegex = CHECKALL
    flt.checkFindTime = False
    flt.active = True
    reader = FilterReader(name, "jail", dict(opts or {}), basedir=basedir, share_config={})
    reader.read()
    reader.getOptions({})
    spec = {'failregex': [], 'ignoreregex': [], 'prefregex': None, 'maxlines': 1, 'datepattern': None}
    for opt in reader.convert():
        for v in (opt[3] if opt[0] == 'multi-set' else [opt[3]]):
            if opt[2] == 'prefregex':
                flt.prefRegex = v
                spec['prefregex'] = v
            elif opt[2] == 'addfailregex':
                flt.addFailRegex(v)
                spec['failregex'].append(v)
            elif opt[2] == 'addignoreregex':
                flt.addIgnoreRegex(v)
                spec['ignoreregex'].append(v)
            elif opt[2] == 'maxlines':
                flt.setMaxLines(v)
                spec['maxlines'] = int(v)
            elif opt[2] == 'datepattern':
                flt.setDatePattern(v)
                spec['datepattern'] = v
    emit({'kind': 'variant', 'variant': variant, 'journal': (opts or {}).get('logtype') == 'journal', 'spec': spec})
    cache[variant] = flt
    return flt


def run(name, basedir):
    cache = {}
    variants = None
    files = [name]
    common = {}
    faildata = {}
    i = 0
    while i < len(files):
        filename = files[i]
        i += 1
        log = FileContainer(os.path.join(LOGS, filename), 'UTF-8', doOpen=True)
        log.waitForLineEnd = False
        ignore_block = False
        lnnum = 0
        for line in log:
            lnnum += 1
            m = DIRECTIVE.match(line)
            if m:
                faildata = json.loads(m.group(2))
                if m.group(1) == 'fileOptions':
                    common = faildata
                    continue
                if m.group(1) == 'filterOptions':
                    variants = []
                    ignore_block = False
                    for fd in (faildata if isinstance(faildata, list) else [faildata]):
                        opts = dict(common)
                        opts.update(fd)
                        if opts.get('test.condition'):
                            ignore_block = not eval(opts.get('test.condition'))
                        if not ignore_block:
                            fo = dict((k, v) for k, v in opts.items() if not k.startswith('test.'))
                            vn = name + (opts.get('test.filter-name') or (str(fo) if fo else ''))
                            variants.append((vn, read_filter(cache, vn, name, basedir, fo), opts))
                    continue
                if m.group(1) == 'addFILE':
                    files.append(faildata)
                    continue
                line = next(log)
                lnnum += 1
            elif ignore_block or line.startswith("#") or not line.strip():
                continue
            else:
                faildata = {}
            if ignore_block:
                continue
            if not variants:
                variants = [(name, read_filter(cache, name, name, basedir, None), {})]
            line = line.rstrip('\r\n')
            for vn, flt, opts in variants:
                if faildata.get('constraint') and not eval(faildata['constraint']):
                    continue
                if opts.get('logtype') != 'journal':
                    found = flt.processLine(line)
                else:
                    if opts.get('test.prefix-line'):
                        line = opts.get('test.prefix-line') + line
                    found = flt.processLine(('', '2005-08-14T10:00:00', line), TEST_NOW)
                out = []
                for idx, fid, t, fail in found:
                    out.append([idx, None if fid is None else str(fid), t,
                                dict((k, plain(v)) for k, v in fail.items())])
                emit({'kind': 'line', 'variant': vn, 'file': filename, 'lnnum': lnnum, 'line': line, 'found': out})


def main():
    setUpMyTime()
    for basedir, pick in ((CONFIG_DIR, lambda f: f.endswith('.conf') and not f.endswith('common.conf')),
                          (TEST_FILTER_DIR, lambda f: f.startswith('zzz-') and f.endswith('.conf'))):
        for f in sorted(os.listdir(os.path.join(basedir, 'filter.d'))):
            if pick(f):
                run(f[:-len('.conf')], basedir)


main()
