-- SLOs: the SLI's counts of each SLO (named service/environment/name), one
-- row per minute, rolled up into one row per hour (minutes = 60) once older
-- than the SLO's retention; and the state of each of its alerts, so a
-- transition is recorded once. Times are Unix seconds.
CREATE TABLE slo_rows (
    slo         TEXT    NOT NULL,
    start       INTEGER NOT NULL,
    minutes     INTEGER NOT NULL,
    good        INTEGER NOT NULL,
    total       INTEGER NOT NULL,
    bad_minutes INTEGER NOT NULL,
    PRIMARY KEY (slo, start, minutes)
);
CREATE TABLE slo_alerts (
    slo    TEXT    NOT NULL,
    alert  TEXT    NOT NULL,
    firing INTEGER NOT NULL,
    since  INTEGER NOT NULL,
    PRIMARY KEY (slo, alert)
);
