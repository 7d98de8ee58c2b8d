-- SLOs: the SLI's counts of each SLO (named service/environment/name), one
-- row per minute, rolled up into one row per hour (minutes = 60) once older
-- than the SLO's retention; and the state of each of its alerts, so a
-- transition is recorded once. Times are Unix seconds.
CREATE TABLE slo_rows (
    slo         TEXT COLLATE "C" NOT NULL,
    start       BIGINT NOT NULL,
    minutes     BIGINT NOT NULL,
    good        BIGINT NOT NULL,
    total       BIGINT NOT NULL,
    bad_minutes BIGINT NOT NULL,
    PRIMARY KEY (slo, start, minutes)
);
CREATE TABLE slo_alerts (
    slo    TEXT COLLATE "C" NOT NULL,
    alert  TEXT COLLATE "C" NOT NULL,
    firing BIGINT NOT NULL,
    since  BIGINT NOT NULL,
    PRIMARY KEY (slo, alert)
);
