package io.cohort.rm.jdbc;

import java.util.concurrent.ConcurrentHashMap;

/**
 * Parsed statements by SQL string. Applications use a bounded set of statements, so a plain map
 * suffices; should one generate unbounded SQL (literals inlined), the map is cleared when it
 * reaches its size instead of growing without end.
 */
final class SqlPlanCache {

    private final ConcurrentHashMap<String, SqlPlan> plans = new ConcurrentHashMap<>();
    private final int maxSize;

    SqlPlanCache(int maxSize) {
        this.maxSize = maxSize;
    }

    SqlPlan plan(String sql) {
        SqlPlan plan = plans.get(sql);
        if (plan == null) {
            plan = SqlRecognizer.recognize(sql);
            if (plans.size() >= maxSize) {
                plans.clear();
            }
            plans.put(sql, plan);
        }
        return plan;
    }
}
