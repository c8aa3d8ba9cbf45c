// SPDX-License-Identifier: GPL-3.0-or-later
// netdata-anomalies: the dashboard's text for the sections and charts of its two python.d modules.
// install.sh copies this file into the agent's web directory and names it in netdata.conf:
//   [web]
//     custom dashboard_info.js = netdata-anomalies.js
// (the agent's own dashboard_info.js still describes the old upstream collector; this replaces that text).

/* global customDashboard */

(function () {
    customDashboard.menu.anomalies = {
        title: 'Anomalies',
        icon: '<i class="fas fa-flask"></i>',
        info: 'Unsupervised anomaly detection by <b>netdata-anomalies</b>. <code>anomalies</code> trains a model '
            + 'per chart (and per custom model) on the last hours of history and retrains in the background; '
            + '<code>anomalies_online</code> runs streaming models that learn every sample. Each job shows, first, '
            + 'the <b>share of its models flagged</b> now (and of those still warming up: no model flags before it '
            + 'has seen 15 minutes of data), then per model its <b>anomaly level</b> (100 is the flag line, about '
            + '10 is ordinary), its <b>flag</b> and its <b>score</b>. A flagged model means its chart has looked '
            + 'unusual for several seconds: open that chart to see what moved. Alerts: '
            + '<code>anomalies_anomaly_rate</code>, <code>anomalies_model_flagged</code> (the python.d log names '
            + 'the dimensions driving a flag), <code>anomalies_training_overdue</code>.'
    };

    var info = {
        anomaly_rate: 'Share of this job\'s models flagged right now (<b>flagged</b>), and share of them not ready '
            + 'yet (<b>warming up</b>: the offline module trains its first models once the agent has '
            + '<code>min_train_secs</code> of history, the streaming one shows a model once it has learned '
            + '<code>warmup_n</code> samples). On an ordinary day flagged stays at 0.',
        probability: 'Anomaly level of each model: how unusual the probability it held for <code>flags_min_n</code> '
            + 'of the last <code>flags_window_n</code> updates is, in powers of ten of rarity relative to the flag '
            + 'threshold. <b>100 is the flag line</b>; ordinary data sits near 10; 200 means beyond everything the '
            + 'model has seen. <b>average</b> is the mean over models.',
        anomaly: 'Flags: 1 while a model\'s probability has been at or above <code>flags_threshold</code> on at '
            + 'least <code>flags_min_n</code> of the last <code>flags_window_n</code> updates.',
        score: 'Each model\'s raw anomaly score relative to its threshold: 0 is as normal as it gets, 1 is the '
            + 'threshold; above 1 the scale is logarithmic (2 = 10 times the threshold, 3 = 100 times), so one '
            + 'spike cannot flatten the rest.',
        health_models: 'The job\'s own health: its models <b>active</b> (scored this update), <b>paused</b> (an '
            + 'input has no value), <b>warming up</b> (not ready yet) and <b>untrained</b> (planned, but its '
            + 'training window could not fit them, e.g. constant charts).',
        health_times: 'The duration of the last training (streaming: of the warm start), the time since it, how '
            + 'long a training has been due without one succeeding (the alert <code>anomalies_training_overdue</code> '
            + 'warns after an hour), how long the latest read from the agent took, and how long the job\'s whole '
            + 'update took (less the read: its own work).',
        health_errors: 'Reads from the agent and trainings that failed in the last minute (the python.d log '
            + 'says why).',
        health_rows: 'Rows (seconds) of the last training window.',
        band: 'The expected value of each dimension of a chart named by <code>band_charts</code>, and its band of '
            + 'usual values (<b>low</b> to <b>high</b>), in the chart\'s own units: offline the median and middle '
            + '95% of the training window, streaming the running mean &plusmn; 2 standard deviations. A value '
            + 'outside the band is unusual for that dimension on its own; the models judge the dimensions '
            + 'together.'
    };
    ['anomalies', 'anomalies_online'].forEach(function (module) {
        Object.keys(info).forEach(function (chart) {
            customDashboard.context[module + '.' + chart] = {info: info[chart]};
        });
    });
}());
