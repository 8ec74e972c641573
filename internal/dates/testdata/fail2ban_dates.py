"""Reference for TestAgainstFail2ban: runs fail2ban's own date detector.

Reads a JSON list of jobs from stdin, each {"pattern", "now", "paths"}
(or "lines" instead of "paths"), and writes one JSON object per input line:
the line as fail2ban decoded it and what its DateDetector made of it, or a
single object with "new_error" if the pattern is refused. Every job gets a
fresh detector that sees the job's lines in order, as a filter would, so
that template reordering is exercised.
"""
import json
import logging
import re
import sys

from fail2ban.server.datedetector import DateDetector
from fail2ban.server.mytime import MyTime


def detector(pattern):
    dd = DateDetector()
    for p in filter(bool, map(str.strip, re.split('\n+', pattern))):
        dd.appendTemplate(p)
    if not dd.templates:
        dd.addDefaultTemplate()
    # Template objects are shared between detectors; their search counters
    # steer the detector, so start every job from zero.
    for t in dd.templates:
        t.template.hits = 0
    return dd


def lines_of(job):
    if 'lines' in job:
        yield from job['lines']
        return
    for path in job['paths']:
        with open(path, 'rb') as f:
            for raw in f.read().split(b'\n'):
                yield raw.decode('utf-8', 'replace').rstrip('\r\n')


def main():
    logging.disable(logging.CRITICAL)  # fail2ban logs failing templates
    out = sys.stdout
    for index, job in enumerate(json.load(sys.stdin)):
        MyTime.setTime(job['now'])
        try:
            dd = detector(job['pattern'])
        except Exception as e:
            out.write(json.dumps({'job': index, 'new_error': repr(e)}) + '\n')
            continue
        for line in lines_of(job):
            res = {'job': index, 'line': line}
            try:
                m, tmpl = dd.matchTime(line)
                if m:
                    s, e = m.start(1), m.end(1)
                    if s < 0:
                        s = e = 0
                    res.update(start=s, end=e, template=tmpl.name)
                    if s != e:
                        date = dd.getTime(line[s:e], (m, tmpl))
                        if date is not None:
                            res['time'] = date[0]
            except Exception as e:  # fail2ban drops the line
                res['error'] = repr(e)
            out.write(json.dumps(res) + '\n')


main()
