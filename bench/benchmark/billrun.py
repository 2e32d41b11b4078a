"""A bill run for the benchmark: invoices of the bulk customers, each newer than those they
have, written three ways with the same rows: JSON Lines and CSV for `billing import`, and
CSV of the table's own columns for PostgreSQL's `COPY invoices FROM` (the limit). The run
is a sequence of monthly cycles, one invoice per customer each, customer after customer,
as a billing system exports them."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

# The newest bill of `billing seed`'s bulk customers.
NEWEST_SEEDED = datetime.date(2026, 11, 5)

IMPORT_COLUMNS = (
    "customer.idType", "customer.id", "invoiceNumber", "billDate", "invoiceAmount",
    "invoiceBalace", "invoiceStatus", "billingGroup.id", "billingGroup.idType", "subscriber.id",
    "subscriber.idType", "contract", "billPeriod", "periodStartDate", "periodEndDate",
    "expirationDate", "invoicedServiceCount", "paymentAmount", "invoiceType", "invoiceSerial",
    "invoiceDescription", "billingName", "billplan", "cai",
)

TABLE_COLUMNS = (
    "customer_id", "invoice_number", "billing_group_id", "subscriber_msisdn", "contract_number",
    "invoice_status", "bill_date", "bill_period", "period_start_date", "period_end_date",
    "expiration_date", "invoice_amount", "invoice_balance", "payment_amount",
    "invoiced_service_count", "invoice_type", "invoice_serial", "invoice_description",
    "billing_name", "billplan", "cai", "customer_position",
)

STATUSES = ("OPEN", "PARTIALLY_PAID", "PAID", "OVERDUE", "CANCELLED")
CAI = "4B2F1A-9C8D7E-6F5A4B-3C2D1E-0F9A8B-7C"


@dataclass(frozen=True)
class Customers:
    """The bulk customers: codes from `first_code`, keys from `first_key`, `count` of them,
    each with `seeded` invoices."""
    first_code: int
    first_key: int
    count: int
    seeded: int


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def write(folder: Path, customers: Customers, cycles: int, after: int = 0,
          formats: tuple[str, ...] = ("jsonl", "csv", "copy")) -> dict[str, Path]:
    """Writes a run of `cycles` invoices per customer, in the cycles that follow the first
    `after` (so that a later run is newer than an earlier one, as real bill runs are), in
    `formats`; the paths by format (`jsonl`, `csv`, `copy`)."""
    folder.mkdir(parents=True, exist_ok=True)
    extensions = {"jsonl": "jsonl", "csv": "csv", "copy": "copy.csv"}
    paths = {name: folder / f"bill-run.{extensions[name]}" for name in formats}
    files = {name: path.open("w") for name, path in paths.items()}
    try:
        if "csv" in files:
            files["csv"].write(",".join(IMPORT_COLUMNS) + "\n")
        for cycle in range(after + 1, after + cycles + 1):
            day = NEWEST_SEEDED + datetime.timedelta(days=cycle)
            for index in range(customers.count):
                code, key = customers.first_code + index, customers.first_key + index
                lines = dict(zip(("jsonl", "csv", "copy"),
                                 invoice(code, key, cycle, day, customers.seeded + cycle)))
                for name, file in files.items():
                    file.write(lines[name])
    finally:
        for file in files.values():
            file.close()
    return paths


def invoice(code: int, key: int, cycle: int, day: datetime.date, position: int) -> tuple[str, str, str]:
    """One invoice as a JSON line, a CSV row, and a row of the table for COPY."""
    number = f"RUN-{code}-{cycle:06d}"
    amount = 10_000 + cycle * 3_700 % 500_000
    balance = amount // 2
    status = STATUSES[cycle % 5]
    group = f"G{cycle % 3 + 1}" if cycle % 4 else ""
    msisdn = 5040000000000 + code * 10 + cycle % 2 + 1
    contract = code * 10 + cycle % 2 + 1
    period = day.strftime("%Y-%m")
    start, end = day - datetime.timedelta(days=30), day - datetime.timedelta(days=1)
    due = day + datetime.timedelta(days=20)
    services = 1 + cycle % 4
    name = f"Bulk customer {code}"
    group_json = f'"billingGroup": {{"id": "{group}", "idType": "GROUP_ID"}}, ' if group else ""
    jsonl = (f'{{"customer": {{"idType": "CLIENT_CODE", "id": {code}}}, "invoiceNumber": "{number}", '
             f'"billDate": "{day}", "invoiceAmount": {money(amount)}, "invoiceBalace": {money(balance)}, '
             f'"invoiceStatus": "{status}", {group_json}'
             f'"subscriber": {{"id": "{msisdn}", "idType": "MSISDN"}}, "contract": "{contract}", '
             f'"billPeriod": "{period}", "periodStartDate": "{start}", "periodEndDate": "{end}", '
             f'"expirationDate": "{due}", "invoicedServiceCount": {services}, '
             f'"paymentAmount": {money(balance)}, "invoiceType": "FACTURA", "invoiceSerial": "A", '
             f'"invoiceDescription": "Servicios moviles", "billingName": "{name}", '
             f'"billplan": "Plan Empresarial", "cai": "{CAI}"}}\n')
    csv = (f"CLIENT_CODE,{code},{number},{day},{money(amount)},{money(balance)},{status},"
           f"{group},{'GROUP_ID' if group else ''},{msisdn},MSISDN,{contract},{period},{start},{end},"
           f"{due},{services},{money(balance)},FACTURA,A,Servicios moviles,{name},Plan Empresarial,{CAI}\n")
    copy = (f"{key},{number},{group},{msisdn},{contract},{status},{day},{period},{start},{end},{due},"
            f"{money(amount)},{money(balance)},{money(balance)},{services},FACTURA,A,Servicios moviles,"
            f"{name},Plan Empresarial,{CAI},{position}\n")
    return jsonl, csv, copy
