package io.cohort.tc.coordinator;

import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.v1.BranchAction;
import io.cohort.tc.model.Branch;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * A {@link BranchChannel} the test plays the RMs of: every command is recorded and waits for the
 * test to answer it ({@link #next}), unless {@link #script} answers it at once.
 */
final class ScriptedChannel implements BranchChannel {

    /** How long {@link #next} waits for the driver, on another thread, to send a command it must send. */
    private static final Duration HANDOFF = Duration.ofSeconds(10);

    /** One command the driver sent. */
    record Command(String xid, long branchId, String resourceId, BranchAction action, Urgency urgency,
                   CompletableFuture<Outcome> answer) {

        void answer(BranchStatus status) {
            answer(new Outcome(status, "", false));
        }

        void answer(Outcome outcome) {
            if (!answer.complete(outcome)) {
                throw new AssertionError("answered twice: " + this);
            }
        }

        /** The answer an RM that did what was asked gives. */
        static BranchStatus success(BranchAction action) {
            return switch (action) {
                case COMMIT, REDO -> BranchStatus.PHASE2_COMMITTED;
                case CAN_COMMIT -> BranchStatus.VOTED_YES;
                case PRE_COMMIT -> BranchStatus.PRE_COMMITTED;
                default -> BranchStatus.PHASE2_ROLLBACKED;
            };
        }

        void succeed() {
            answer(success(action));
        }
    }

    private final Set<String> resources;
    private final List<Command> sent = new CopyOnWriteArrayList<>();
    private final LinkedBlockingQueue<Command> unanswered = new LinkedBlockingQueue<>();
    /** Answers a command at once when it gives an outcome; null leaves it to the test. */
    volatile Function<Command, Outcome> script = c -> null;

    ScriptedChannel(String... resources) {
        this.resources = Set.of(resources);
    }

    /** The RMs answer every command with success from now on. */
    void succeedAlways() {
        script = c -> new Outcome(Command.success(c.action()), "", false);
    }

    @Override
    public CompletableFuture<Outcome> send(String xid, Branch branch, BranchAction action,
                                           Map<String, String> traceContext, Urgency urgency) {
        Command c = new Command(xid, branch.branchId(), branch.resourceId(), action, urgency, new CompletableFuture<>());
        sent.add(c);
        Outcome scripted = script.apply(c);
        if (scripted != null) {
            c.answer(scripted);
        } else {
            unanswered.add(c);
        }
        return c.answer();
    }

    /** The next command left to the test to answer; fails when the driver sends none. */
    Command next() {
        try {
            Command c = unanswered.poll(HANDOFF.toMillis(), TimeUnit.MILLISECONDS);
            if (c == null) {
                throw new AssertionError("no branch command was sent (sent so far: " + sent + ")");
            }
            return c;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** The commands sent and not answered yet, without waiting. */
    List<Command> waiting() {
        return List.copyOf(unanswered);
    }

    List<Command> sentFor(String xid) {
        return sent.stream().filter(c -> c.xid().equals(xid)).toList();
    }

    List<BranchAction> actionsFor(String xid, long branchId) {
        return sentFor(xid).stream().filter(c -> c.branchId() == branchId).map(Command::action).toList();
    }

    @Override
    public boolean hasResource(String resourceId) {
        return resources.contains(resourceId);
    }

    @Override
    public Set<String> resourceIds() {
        return resources;
    }

    @Override
    public int pendingCount() {
        return unanswered.size();
    }

    @Override
    public long queuedBytes() {
        return 0;
    }
}
