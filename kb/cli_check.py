"""The `kb check` commands: recompute every check of the KB, or check numbers or text a user gives."""

from __future__ import annotations

import json
import sys

import click

from kb.cli import EXIT_FAILED, EXIT_USAGE, checks_line, db_option, existing_db, fail, read_text, uses_kb


@click.group(invoke_without_command=True)
@db_option
@click.pass_context
@uses_kb
def check(ctx, db_path):
    """Recompute every check in the KB (idempotent); subcommands check numbers or text you give.

    Example: kb check --db kb.db
    """
    if ctx.invoked_subcommand is None:
        from kb.derive import rederive_all

        db = existing_db(db_path)
        rederive_all(db)
        checks_line(db)


def _print_verdicts(verdicts: list[dict], as_json: bool):
    if as_json:
        click.echo(json.dumps(verdicts, indent=2))
        return
    for v in verdicts:
        click.echo(f"{v['verdict']}: {v['detail']}")


@check.command("stats")
@click.option("--mean", help="Reported mean (as written, e.g. 59.6).")
@click.option("--sd", help="Reported standard deviation.")
@click.option("--se", help="Reported standard error.")
@click.option("--pm", help="Reported ± value when the text does not say SD or SE (read both ways).")
@click.option("--n", help="Sample size.")
@click.option("--mean2", help="Second group's mean (two independent groups; with --sd2/--se2/--pm2 and --n2).")
@click.option("--sd2", help="Second group's standard deviation.")
@click.option("--se2", help="Second group's standard error.")
@click.option("--pm2", help="Second group's ± value when the text does not say SD or SE.")
@click.option("--n2", help="Second group's sample size.")
@click.option("--p", help="Reported p-value as written (0.0003, <0.001).")
@click.option("--ratio", help="Hazard, odds or risk ratio.")
@click.option("--lower", help="Lower confidence limit.")
@click.option("--upper", help="Upper confidence limit.")
@click.option("--level", default="95", show_default=True, help="Confidence level in %.")
@click.option("--one-sided-stated", is_flag=True, help="The source says its p-value is one-sided.")
@click.option("--percent", help="Reported percentage (GRIM-style check against --n, and --k if given).")
@click.option("--k", help="Reported count of the percentage.")
@click.option("--k1", help="Two proportions: the first group's count (with --n1, --k2, --n2 and --p).")
@click.option("--n1", help="The first group's size.")
@click.option("--k2", help="The second group's count.")
@click.option("--grim-mean", "grim", help="A mean of whole-number values (GRIM test against --n).")
@click.option("--items", default=1, show_default=True, help="Items summed into each value, for --grim-mean.")
@click.option("--percents", help="Comma-separated percentages of the categories of one whole (sum to 100%).")
@click.option("--json", "as_json", is_flag=True, help="Print the verdicts as JSON.")
def check_stats(mean, sd, se, pm, n, mean2, sd2, se2, pm2, n2, p, ratio, lower, upper, level, one_sided_stated,
                percent, k, k1, n1, k2, grim, items, percents, as_json):
    """Check numbers you give: p from mean ± SD/SE and n (one group, or two with --mean2), p from a ratio and its CI,
    p of two proportions (--k1/--n1 vs --k2/--n2), a percentage of n, a GRIM mean, percentages that should add up to
    100.

    Exit status: 0 no verdict is inconsistent, 1 a verdict is inconsistent, 2 usage error.

    Example: kb check stats --mean 59.6 --pm 8.3 --n 5 --p 0.0003
    """
    from kb import checks

    verdicts = []
    dispersion = [(t, v) for t, v in (("sd", sd), ("se", se), ("pm", pm)) if v]
    second = [(t, v) for t, v in (("sd", sd2), ("se", se2), ("pm", pm2)) if v]
    if mean and dispersion and n and p and mean2 and second and n2:
        verdicts.append(checks.p_two_groups(mean, dispersion[0][1], int(n), mean2, second[0][1], int(n2), p,
                                            dispersion_type=dispersion[0][0]))
    elif mean and dispersion and n and p:
        kind, value = dispersion[0]
        verdicts.append(checks.p_one_sample(mean, value, int(n), p, dispersion_type=kind))
    if k1 and n1 and k2 and n2 and p:
        verdicts.append(checks.p_two_proportions(k1, n1, k2, n2, p))
    if ratio and p:
        verdicts.append(checks.p_from_ratio_ci(ratio, lower or "", upper or "", p, level=level,
                                               context="one-sided" if one_sided_stated else ""))
    if percent and n:
        verdicts.append(checks.percent_of_count(percent, int(n), k))
    if grim and n:
        verdicts.append(checks.grim_mean(grim, int(n), items=items))
    if percents:
        verdicts.append(checks.percentages_sum_to_100([x.strip() for x in percents.split(",")]))
    if not verdicts:
        fail("give --mean with --sd/--se/--pm, --n and --p (and --mean2, --sd2/--se2/--pm2, --n2 for two groups); "
             "or --ratio with --lower, --upper and --p; or --k1, --n1, --k2, --n2 and --p; or --percent with --n; "
             "or --grim-mean with --n; or --percents", EXIT_USAGE)
    _print_verdicts(verdicts, as_json)
    sys.exit(EXIT_FAILED if any(v["verdict"] == "inconsistent" for v in verdicts) else 0)


@check.command("text")
@click.argument("text")
@click.option("--json", "as_json", is_flag=True, help="Print verdict, method and recomputed range of each check.")
def check_text(text, as_json):
    """Extract every statistic from a passage (or '-' for standard input) and check what can be checked; when no
    check gives a verdict, print each number found and why it could not be checked.

    Example: echo "The mean was 59.6%±8.3% (p=0.0003) in five men." | kb check text -
    """
    from kb.derive.abstract_checks import statistics_checks, unchecked
    from kb.extract.stats import extract_stats

    text = read_text(text)
    rows = [{**row, "id": f"number {i + 1}"} for i, row in enumerate(extract_stats(text))]
    found = statistics_checks(rows, text)
    verdicts = [verdict for verdict, _ in found if verdict["verdict"] != "not_checkable" or as_json]
    if verdicts or as_json:
        _print_verdicts([verdict for verdict, _ in found], as_json)
        return
    if not rows:
        click.echo("No reported number found in the text.")
    for row, reason in unchecked(rows, found):
        written = text[row["span_start"]:row["span_end"]]
        click.echo(f"not checked: {written!r} ({row['statistic']}): {reason}")
