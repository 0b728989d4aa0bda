"""Bad input: damaged records and files injected into the landing zone, with a ledger.

Every defect kind of ``docs/sources.md`` appears within the first three days of any run
(so tiny test runs exercise all of them), and a few more are sprinkled over longer runs:

=================  ============================================================  =========
defect             how it is made                                                locator
=================  ============================================================  =========
malformed_record   an MES test-log line loses its FAIL_CODE field (14 fields);   line:N
                   an SPC line written as a Python dict (single quotes)
wrong_type         SPC ``val`` like ``"132,4O um"``; a LIMS ``result="n/a"``       line/record
unknown_code       an extra MES row with ``STN_TYPE=XRAYX`` (a new X-ray         line:N /
                   station); a claim with ``mode_code=FM-ZZ9`` (first day that   record:N
                   has claims)
truncated_record   the last line of an SPC or MES test-log file cut mid-way,     line:N
                   without trailing newline
duplicate_file     a supplier CSDX file delivered again the same day as          *
                   ``..._resend.csv``, byte-identical
added_column       from one day on, one site's MES_GENEALOGY gains a trailing    * (each
                   ``OPERATOR_ID`` column                                        file)
=================  ============================================================  =========

Damage replaces the content of an existing record (except the XRAYX row, which is an
extra record). Records that carry an incident signal (``protected``) are never chosen,
so quarantining bad input never hides a ground-truth incident.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .world import SITES, UNKNOWN_MODE_CODE, UNKNOWN_STN_TYPE, child_rng
from .writers import ClaimsPayload, CopyPayload, LimsPayload, LinePayload, Payload

REQUIRED = (
    "mes_malformed",
    "spc_malformed",
    "spc_wrong_type",
    "lims_wrong_type",
    "mes_unknown_stn",
    "truncated_spc",
    "duplicate_supplier",
)
SPRINKLE = (
    "mes_malformed",
    "spc_malformed",
    "spc_wrong_type",
    "lims_wrong_type",
    "mes_unknown_stn",
    "truncated_spc",
    "truncated_mes",
    "duplicate_supplier",
)
FAIL_CODE_FIELD = 11  # 0-based position of FAIL_CODE in a serialised MES test-log line


@dataclass
class DayFiles:
    """The payloads of one day, by role, as handed to the injector."""

    testlog: dict[str, LinePayload] = field(default_factory=dict)  # by site
    genealogy: dict[str, LinePayload] = field(default_factory=dict)
    shipment: dict[str, LinePayload] = field(default_factory=dict)
    spc: dict[str, LinePayload] = field(default_factory=dict)
    supplier: dict[str, LinePayload] = field(default_factory=dict)  # by supplier code
    lims: LimsPayload | None = None
    claims: ClaimsPayload | None = None
    extra: list[Payload] = field(default_factory=list)  # e.g. resent files

    def all(self) -> list[Payload]:
        out: list[Payload] = []
        for group in (self.testlog, self.genealogy, self.shipment, self.spc, self.supplier):
            out += [group[k] for k in sorted(group)]
        out += [p for p in (self.lims, self.claims) if p is not None]
        return out + self.extra


def _python_repr(line: str) -> str:
    """Turn a JSON line into a Python-dict-looking, invalid JSON line."""
    return line.replace('"', "'").replace("null", "None")


def _drop_field(index: int, sep: str = ","):
    def edit(line: str) -> str:
        parts = line.split(sep)
        return sep.join(parts[:index] + parts[index + 1 :])

    return edit


def _bad_number(val: str) -> str:
    """'132.4 um' -> '132,4O um': decimal comma and a letter O for a zero."""
    num, _, unit = val.partition(" ")
    num = f"{float(num):.2f}".replace(".", ",")
    return f"{num[:-1]}O {unit}"


class Injector:
    """Decides which defects go where, and applies them day by day."""

    def __init__(self, seed: int, days: int) -> None:
        self.rng = child_rng(seed, "defects-plan")
        early = max(1, min(3, days))
        self.plan: dict[int, list[str]] = {}
        for kind in REQUIRED:
            self.plan.setdefault(int(self.rng.integers(0, early)), []).append(kind)
        if days > 3:
            for _ in range(days // 15):
                d = int(self.rng.integers(3, days))
                self.plan.setdefault(d, []).append(SPRINKLE[int(self.rng.integers(0, len(SPRINKLE)))])
        self.added_column_site = SITES[int(self.rng.integers(0, len(SITES)))].code
        self.added_column_day = int(self.rng.integers(0, early))
        self.mode_code_pending = True
        self.seed = seed

    def operator_column(self, site: str, day: int) -> bool:
        """True when ``site``'s genealogy file of ``day`` carries the extra OPERATOR_ID column."""
        return site == self.added_column_site and day >= self.added_column_day

    # ------------------------------------------------------------------
    def apply(self, day: int, files: DayFiles, supplier_resend_path) -> None:
        rng = child_rng(self.seed, "defects", day)
        kinds = sorted(self.plan.get(day, []), key=lambda k: (k != "mes_unknown_stn", k))  # insertions first
        for kind in kinds:
            getattr(self, "_" + kind)(rng, files, supplier_resend_path)
        if self.mode_code_pending and files.claims is not None:
            if self._claims_unknown_mode(rng, files):
                self.mode_code_pending = False

    # -- helpers -------------------------------------------------------
    @staticmethod
    def _choose(rng: np.random.Generator, payloads: dict[str, Payload], **kw) -> tuple[Payload, int] | None:
        """A random unprotected record from one of the payloads (sites tried in random order)."""
        keys = sorted(payloads)
        for k in [keys[int(i)] for i in rng.permutation(len(keys))]:
            cands = payloads[k].candidates(**kw)
            if cands:
                return payloads[k], cands[int(rng.integers(0, len(cands)))]
        return None

    # -- one method per planned kind ------------------------------------
    def _mes_malformed(self, rng, files: DayFiles, _resend) -> None:
        hit = self._choose(rng, files.testlog)
        if hit:
            p, i = hit
            p.marks[i] = "malformed_record"
            p.line_edits[i] = _drop_field(FAIL_CODE_FIELD)

    def _spc_malformed(self, rng, files: DayFiles, _resend) -> None:
        hit = self._choose(rng, files.spc)
        if hit:
            p, i = hit
            p.marks[i] = "malformed_record"
            p.line_edits[i] = _python_repr

    def _spc_wrong_type(self, rng, files: DayFiles, _resend) -> None:
        hit = self._choose(rng, files.spc)
        if hit:
            p, i = hit
            rec = dict(p.rows[i])
            rec["val"] = _bad_number(rec["val"])
            p.rows[i] = rec
            p.marks[i] = "wrong_type"

    def _lims_wrong_type(self, rng, files: DayFiles, _resend) -> None:
        if files.lims is None:
            return
        hit = self._choose(rng, {"lims": files.lims}, exclude_last=False)
        if hit:
            p, i = hit
            assert isinstance(p, LimsPayload)
            test = p.tests()[i]
            for j, (k, _v) in enumerate(test):
                if k == "result":
                    test[j] = ("result", "n/a")
            p.marks[i] = "wrong_type"

    def _mes_unknown_stn(self, rng, files: DayFiles, _resend) -> None:
        """A unit also logs at an X-ray station nobody added to the code map."""
        for site in [SITES[int(i)].code for i in rng.permutation(len(SITES))]:
            p = files.testlog.get(site)
            if p is None:
                continue
            cands = [i for i in p.candidates() if p.rows[i][6] != "IQC" and p.rows[i][4]]
            if not cands:
                continue
            i = cands[int(rng.integers(0, len(cands)))]
            src = p.rows[i]
            max_id = max(int(r[0].rsplit("-", 1)[1]) for r in p.rows)
            new = [
                f"{src[0].rsplit('-', 1)[0]}-{max_id + 1:06d}",
                src[1],
                src[2],
                src[3],
                src[4],
                f"{src[4]}-XRAY",
                UNKNOWN_STN_TYPE,
                src[7],
                "",
                "1",
                src[10] if src[10] in ("P", "PASS") else ("P" if site == "SZX" else "PASS"),
                "",
                src[12],
                "",
                "",
            ]
            # shift marks/edits/protection of the following records by one
            p.rows.insert(i + 1, new)
            p.protected.insert(i + 1, False)
            p.marks = {(k + 1 if k > i else k): v for k, v in p.marks.items()}
            p.line_edits = {(k + 1 if k > i else k): v for k, v in p.line_edits.items()}
            p.marks[i + 1] = "unknown_code"
            return

    def _truncate(self, rng, payloads: dict[str, LinePayload]) -> None:
        keys = sorted(payloads)
        for k in [keys[int(i)] for i in rng.permutation(len(keys))]:
            p = payloads[k]
            last = len(p.rows) - 1
            if last >= 1 and not p.truncate_last and not p.protected[last] and last not in p.marks:
                p.truncate_last = True
                p.marks[last] = "truncated_record"
                return

    def _truncated_spc(self, rng, files: DayFiles, _resend) -> None:
        self._truncate(rng, files.spc)

    def _truncated_mes(self, rng, files: DayFiles, _resend) -> None:
        self._truncate(rng, files.testlog)

    def _duplicate_supplier(self, rng, files: DayFiles, resend_path) -> None:
        sups = sorted(
            s
            for s in files.supplier
            if not any(isinstance(x, CopyPayload) and x.original is files.supplier[s] for x in files.extra)
        )
        if not sups:
            return
        sup = sups[int(rng.integers(0, len(sups)))]
        orig = files.supplier[sup]
        files.extra.append(
            CopyPayload(
                orig.source, resend_path(orig.relpath), file_defects=["duplicate_file"], original=orig
            )
        )

    def _claims_unknown_mode(self, rng, files: DayFiles) -> bool:
        p = files.claims
        assert p is not None
        cands = p.candidates(exclude_last=False)
        if not cands:
            return False
        i = cands[int(rng.integers(0, len(cands)))]
        p.claims[i]["failure"]["mode_code"] = UNKNOWN_MODE_CODE
        p.marks[i] = "unknown_code"
        return True
