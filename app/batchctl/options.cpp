#include "options.h"

#include "api/engine.h"

using namespace Qt::StringLiterals;

namespace batchctl {

namespace {
const char kUsage[] =
    "commands:\n"
    "  run INPUT.csv (--template TEXT | --template-file FILE) [options]\n"
    "  estimate INPUT.csv (--template TEXT | --template-file FILE) [options]   (= run --dry-run)\n"
    "  resume  [--db PATH] [--json] [--global-budget USD [--period P]]\n"
    "  status  [--db PATH] [--json]\n"
    "  budget  [--set USD] [--period month|day|all] [--db PATH] [--json]\n"
    "  export  JOB --out FILE [--db PATH]\n"
    "  check   [--db PATH] [--json]   full integrity check of the database (reads all of it)\n"
    "  dlq list   [--job JOB] [--db PATH] [--json]\n"
    "  dlq replay [--job JOB] [--task ID ...] [--class ERROR_CLASS] [--db PATH]\n"
    "             [--template TEXT | --template-file FILE] [--system TEXT | --system-file FILE]\n"
    "             (an edited template or system prompt needs --job; it applies to the replayed "
    "tasks only)\n"
    "  job JOB [--priority 1|2|3] [--pause | --resume | --cancel | --run-now] [--db PATH] "
    "[--json]\n"
    "          change a job wherever it runs: every engine on the database applies it within 2 s\n"
    "  compare JOB JOB [JOB] [--db PATH] [--json]\n"
    "          sample jobs of one input (run --sample N per model or template) side by side:\n"
    "          how often their answers agree, per field, and what each would cost in all\n"
    "  key set PROVIDER      store PROVIDER's API key (read from stdin) in the OS keychain\n"
    "  key delete PROVIDER   remove it\n"
    "  key status [PROVIDER] [--json]   where each key would come from (never prints one)\n"
    "  submit  INPUT.csv (--template TEXT | --template-file FILE) [options]   import only; any\n"
    "          worker, run, resume or console on the database runs it\n"
    "  worker  [--db PATH|URL] [--lanes 1,2,3] [--concurrency N] [--json]\n"
    "          run every runnable job of the database on these lanes until SIGTERM or SIGINT\n"
    "  wait    JOB [--timeout S] [--db PATH|URL] [--json]   until the job stops; exits as run\n"
    "          would (0, 4 or 3), 1 when the timeout passes first\n"
    "  serve   [--db PATH|URL] [--listen HOST:PORT] [--token-file FILE] [--no-work]\n"
    "          the intake API (default listen 127.0.0.1:8787; token from BATCHDESK_API_TOKEN)\n"
    "PROVIDER is openai, anthropic or gemini. run, resume and dlq replay take the key from\n"
    "OPENAI_API_KEY / ANTHROPIC_API_KEY / GEMINI_API_KEY (then GOOGLE_API_KEY) when set,\n"
    "else from the OS keychain.\n";
} // namespace

void addOptions(QCommandLineParser &parser)
{
    parser.addOptions({
        {u"template"_s, u"Prompt template with {{column}} placeholders."_s, u"TEXT"_s},
        {u"template-file"_s, u"Read the prompt template from FILE."_s, u"FILE"_s},
        {u"system"_s, u"System prompt."_s, u"TEXT"_s},
        {u"system-file"_s, u"Read the system prompt from FILE."_s, u"FILE"_s},
        {u"provider"_s, u"simulator (default), openai, anthropic, gemini or openai-compatible."_s, u"NAME"_s},
        {u"model"_s, u"Model name as the provider spells it; auto: model tiering (needs --tiering)."_s, u"NAME"_s},
        {u"tiering"_s, u"With --model auto: tiers, models and routing rules from a JSON FILE."_s, u"FILE"_s},
        {u"schema"_s, u"Structured answers: a JSON Schema FILE (an object); one export column per field."_s, u"FILE"_s},
        {u"structured-output"_s,
         u"openai-compatible with --schema: json_schema (default) or json_object, for servers "
         "without json_schema support (the schema goes into the system prompt; answers are "
         "still validated)."_s,
         u"MODE"_s},
        {u"base-url"_s, u"Provider endpoint; overrides OPENAI_BASE_URL / ANTHROPIC_BASE_URL / GEMINI_BASE_URL."_s, u"URL"_s},
        {u"priority"_s, u"1 now, 2 within the hour (default), 3 within a day."_s, u"1|2|3"_s},
        {u"mode"_s, u"auto (default), realtime or batch-api."_s, u"MODE"_s},
        {u"db"_s,
         u"Database: an SQLite file, or postgresql://user@host:port/dbname (password from "
         "PGPASSWORD or ~/.pgpass) (default: %1)."_s.arg(bd::defaultDatabasePath()),
         u"PATH|URL"_s},
        {u"export"_s, u"Write the results to OUT.csv, OUT.jsonl or OUT.xlsx when the job stops."_s,
         u"FILE"_s},
        {u"out"_s, u"Export destination."_s, u"FILE"_s},
        {u"max-retries"_s, u"Retries per task before it is dead-lettered (default 3)."_s, u"N"_s},
        {u"max-output-tokens"_s, u"Most tokens an answer may have (default 256)."_s, u"N"_s},
        {u"concurrency"_s, u"Requests in flight at once."_s, u"N"_s},
        {u"rpm"_s, u"Most requests per minute."_s, u"N"_s},
        {u"tpm"_s, u"Most tokens per minute."_s, u"N"_s},
        {u"budget"_s, u"Spending cap for the job in USD."_s, u"USD"_s},
        {u"offpeak"_s,
         u"Priority 3: send only between HH:MM-HH:MM, in time zone TZ (e.g. 22:00-06:00@Europe/Berlin; default local time)."_s,
         u"WINDOW"_s},
        {u"pause"_s, u"job: pause the job wherever it runs (resumable)."_s},
        {u"resume"_s, u"job: start the job again in the engines that ran it."_s},
        {u"cancel"_s, u"job: stop the job and cancel its unfinished tasks."_s},
        {u"run-now"_s,
         u"Send priority-3 work now, outside its off-peak window (kept for the job)."_s},
        {u"global-budget"_s,
         u"run, resume: cap in USD across every job of the database over --period "
         "(stored in it; 0 removes the cap)."_s,
         u"USD"_s},
        {u"set"_s, u"budget: set the global cap in USD (0 removes it)."_s, u"USD"_s},
        {u"listen"_s, u"serve: address and port to listen on (default 127.0.0.1:8787)."_s, u"HOST:PORT"_s},
        {u"token-file"_s, u"serve: read the API token from FILE (else BATCHDESK_API_TOKEN)."_s, u"FILE"_s},
        {u"no-work"_s, u"serve: accept tasks only; workers elsewhere run the queues."_s},
        {u"lanes"_s, u"worker: the lanes (priorities) it serves, e.g. 1,2 (default 1,2,3)."_s,
         u"LIST"_s},
        {u"db-wait"_s,
         u"worker: a database server that went away is reconnected to for S seconds, then the worker exits 1 (default 300)."_s,
         u"S"_s},
        {u"timeout"_s, u"wait: give up after S seconds (exit 1)."_s, u"S"_s},
        {u"period"_s, u"Global budget period: month (UTC calendar month, default), day (UTC) or all."_s,
         u"P"_s},
        {u"job"_s, u"Limit to one job."_s, u"JOB"_s},
        {u"task"_s, u"Task id(s) to replay."_s, u"ID"_s},
        {u"class"_s, u"dlq replay: only dead tasks of this error class (e.g. server_error)."_s,
         u"ERROR_CLASS"_s},
        {u"json"_s, u"Print one JSON object on stdout."_s},
        {u"sample"_s,
         u"run: import and run only N rows spread evenly over the input, as a job of its own; "
         "reports the projected cost of the whole input."_s,
         u"N"_s},
        {u"deadline"_s,
         u"Finish by WHEN (2026-12-03T09:00Z, +36h, +90m): the engine picks the lanes "
         "(the batch API only when WHEN is 24 h or more away) and re-plans while it runs."_s,
         u"WHEN"_s},
        {u"dry-run"_s,
         u"run: estimate tokens and cost in each lane instead of running (same as estimate)."_s},
        {u"encoding"_s,
         u"The input's encoding when it is not detected right: UTF-8, UTF-16LE, UTF-16BE or Windows-1252."_s,
         u"NAME"_s},
        {u"no-response-cache"_s,
         u"Send every row even when an identical request was answered before."_s},
        {u"sim-latency-ms"_s, u"Simulator: delay of each answer."_s, u"MS"_s},
        {u"sim-failure-rate"_s, u"Simulator: share of tries that fail (0..1)."_s, u"RATE"_s},
        {u"metrics-port"_s,
         u"Serve /metrics (Prometheus text) on 127.0.0.1:PORT while running; 0: any free port."_s,
         u"PORT"_s},
        {u"alert-webhook"_s, u"POST each raised alert as JSON to URL."_s, u"URL"_s},
        {u"alert-command"_s, u"Run CMD for each raised alert (the alert as JSON on stdin)."_s,
         u"CMD"_s},
        {u"monitoring"_s,
         u"Monitoring settings (metrics, alert thresholds, notifications) from a JSON FILE."_s,
         u"FILE"_s},
        {u"sim-rpm"_s, u"Simulator: requests per minute it accepts before answering 429."_s,
         u"N"_s},
        {u"batch-max-wait-ms"_s,
         u"Longest a batch waits to fill before it goes anyway (default: 500 for groups of sync calls, 60000 for provider batches)."_s,
         u"MS"_s},
    });
    // Batch-API lane tuning for tests and demos; kept out of --help.
    for (const auto &[name, description] :
         {std::pair{u"batch-size"_s, u"Batch API: most lines per provider batch."_s},
          std::pair{u"batch-poll-ms"_s,
                    u"Batch API: first poll after submitting (default 5000)."_s},
          std::pair{u"lease-ms"_s, u"Lease of claimed tasks (default 30000)."_s},
          std::pair{u"heartbeat-ms"_s, u"Heartbeat in the worker list (default 5000)."_s},
          std::pair{u"poll-ms"_s, u"worker: how often it looks for new jobs (default 2000)."_s}}) {
        QCommandLineOption option(name, description, u"N"_s);
        option.setFlags(QCommandLineOption::HiddenFromHelp);
        parser.addOption(option);
    }
}

QString usageText()
{
    return QString::fromLatin1(kUsage);
}

} // namespace batchctl
