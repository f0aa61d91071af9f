package io.cohort.rm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.zaxxer.hikari.HikariDataSource;
import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.client.XidContext;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.BranchStatusCode;
import io.cohort.protocol.v1.GlobalStatusCode;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.rm.jdbc.ResourceManager;
import io.cohort.testsupport.TcProcess;
import io.cohort.testsupport.TestPostgres;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.sql.Connection;
import java.time.Duration;
import java.util.List;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.openqa.selenium.By;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.StaleElementReferenceException;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.Select;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * The operations console in a real browser (Debian's headless Chromium through chromedriver)
 * against a real TC process, with real transactions made by a real RM on PostgreSQL: committed,
 * rolled back, a rollback stopped by a dirty write, one still running with its lock, and one with
 * heuristic evidence (its RM's report that it committed on its own is sent by the test through the
 * TM client's real {@code ReportBranch} call, as a 3PC RM sends it). Screenshots go to {@code target/console-screenshots}.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ConsoleBrowserIT {

    private static final String CLIENT_TOKEN = "console-client-token";
    private static final String ADMIN_TOKEN = "console-admin-token";
    private static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    private static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
    /** Generous for a loaded machine: a page load plus one API round trip, or one phase-2 rollback. */
    private static final Duration UI_WAIT = Duration.ofSeconds(30);
    private static final Path SCREENSHOTS = Path.of("target", "console-screenshots");

    private HikariDataSource raw;
    private HikariDataSource rawB;
    private TcProcess tc;
    private TcClient tm;
    private ResourceManager rm;
    private ResourceManager rmB;
    private DataSource ds;
    private WebDriver browser;

    private String committed;
    private String rolledBack;
    private String dirty;
    private String running;
    private String heuristic;

    @BeforeAll
    void start() throws Exception {
        assumeTrue(Files.isExecutable(CHROMIUM) && Files.isExecutable(CHROMEDRIVER),
                "Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver; "
                        + ".ci/run installs them)");
        raw = TestPostgres.get().dataSource(PgFixture.createDatabase("rm_console"), 4);
        PgFixture.applyUndoLogDdl(raw);
        PgFixture.exec(raw, """
                CREATE TABLE account (id bigint PRIMARY KEY, owner text NOT NULL, balance numeric(12,2) NOT NULL);
                INSERT INTO account VALUES (1, 'ann', 100.00), (2, 'bob', 200.00), (3, 'cy', 300.00),
                                           (4, 'di', 400.00), (5, 'ed', 500.00);
                """);
        tc = TcProcess.embedded(Files.createTempDirectory("cohort-console-it").resolve("data"),
                "--cohort.tc.store.embedded.fsync=false", "--cohort.tc.auth.token=" + CLIENT_TOKEN,
                "--cohort.tc.auth.admin-token=" + ADMIN_TOKEN).start();
        tm = new TcClient(config("console-it"));
        rm = ResourceManager.builder(BranchCoordinator.of(tm)).build();
        ds = rm.wrap(raw);
        rm.connect(config("console-rm"), 2);
        assertThat(rm.awaitConnected(UI_WAIT)).as("RM stream welcomed by the TC").isTrue();

        committed = update("console.commit", 1, "101.00");
        assertThat(end(tm.commit(committed).getStatus(), committed)).isEqualTo(GlobalStatus.COMMITTED);
        rolledBack = update("console.rollback", 2, "201.00");
        assertThat(end(tm.rollback(rolledBack).getStatus(), rolledBack)).isEqualTo(GlobalStatus.ROLLBACKED);
        dirty = update("console.dirty", 3, "301.00");
        PgFixture.exec(raw, "UPDATE account SET balance = 999.00 WHERE id = 3"); // outside any global transaction
        assertThat(end(tm.rollback(dirty).getStatus(), dirty)).isEqualTo(GlobalStatus.ROLLBACK_FAILED);
        running = update("console.running", 5, "501.00");

        // A heuristic split: bank B's RM goes away after phase 1, the TM rolls back, and the RM, back,
        // reports that it committed its branch on its own (what a 3PC RM does when no TC answers).
        rawB = TestPostgres.get().dataSource(PgFixture.createDatabase("rm_console_b"), 2);
        PgFixture.applyUndoLogDdl(rawB);
        PgFixture.exec(rawB, "CREATE TABLE account (id bigint PRIMARY KEY, balance numeric(12,2) NOT NULL); "
                + "INSERT INTO account VALUES (1, 10.00)");
        rmB = ResourceManager.builder(BranchCoordinator.of(tm)).build();
        DataSource dsB = rmB.wrap(rawB);
        rmB.connect(config("console-rm-b"), 2);
        assertThat(rmB.awaitConnected(UI_WAIT)).isTrue();
        heuristic = tm.begin("console.heuristic", Duration.ofMinutes(5), TransactionProtocol.TWO_PHASE);
        String previous = XidContext.bind(heuristic);
        try (Connection c = dsB.getConnection()) {
            c.createStatement().executeUpdate("UPDATE account SET balance = 11.00 WHERE id = 1");
        } finally {
            XidContext.restore(previous);
        }
        rmB.close();
        tm.rollback(heuristic);
        tm.reportBranch(heuristic, onlyBranchId(heuristic), BranchStatusCode.BRANCH_PHASE2_COMMITTED,
                "no word from the TC within the termination timeout", true);

        Files.createDirectories(SCREENSHOTS);
        ChromeOptions options = new ChromeOptions().setBinary(CHROMIUM.toFile())
                .addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--disable-quic", "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
                        "--user-data-dir=" + Files.createTempDirectory("cohort-console-chromium"));
        browser = new ChromeDriver(new ChromeDriverService.Builder().usingDriverExecutable(CHROMEDRIVER.toFile())
                .usingAnyFreePort().build(), options);
    }

    @AfterAll
    void stop() throws Exception {
        if (browser != null) {
            browser.quit();
        }
        if (running != null && tm.status(running).getStatus() == GlobalStatus.BEGIN.toWire()) {
            tm.rollback(running);
        }
        if (rm != null) {
            rm.close();
        }
        if (rawB != null) {
            rawB.close();
        }
        if (tm != null) {
            tm.close();
        }
        if (tc != null) {
            tc.close();
        }
        if (raw != null) {
            raw.close();
        }
    }

    @Test
    void anOperatorFindsTheStuckTransactionSeesWhyAndRetriesItAfterFixingTheData() throws Exception {
        // Not signed in: the console asks for a token, and the API it reads refuses the browser.
        open("/console");
        await(By.id("signin"));
        screenshot("01-sign-in");
        open("/api/v1/transactions");
        assertThat(browser.getPageSource()).contains("UNAUTHENTICATED").doesNotContain(committed);
        open("/console/index.html");
        signIn("not-the-token");
        assertThat(await(By.id("signin-message")).getText()).contains("Bearer");

        // Overview: counts per status, live charts.
        signIn(CLIENT_TOKEN);
        WebElement failedTile = await(By.cssSelector("#status-counts [data-status=ROLLBACK_FAILED] .n"));
        assertThat(failedTile.getText()).isEqualTo("1");
        assertThat(text(By.cssSelector("#status-counts [data-status=COMMITTED] .n"))).isEqualTo("1");
        assertThat(text(By.cssSelector("#status-counts [data-status=BEGIN] .n"))).isEqualTo("1");
        awaitText(By.cssSelector(".charts"), "Transactions per second");
        screenshot("02-overview");

        // The list, filtered by status, then by name.
        awaitUntil(d -> {
            d.findElement(By.cssSelector("#status-counts [data-status=ROLLBACK_FAILED]")).click();
            return true;
        });
        awaitRows(dirty);
        assertThat(text(By.id("total"))).isEqualTo("1 transaction(s)");
        new Select(browser.findElement(By.id("filter-status"))).selectByValue("");
        browser.findElement(By.id("filter-name")).sendKeys("console.commit");
        browser.findElement(By.id("filter-apply")).click();
        awaitRows(committed);
        open("/console/index.html#/transactions");
        awaitRows(committed, rolledBack, dirty, running, heuristic);
        assertThat(text(By.id("total"))).isEqualTo("5 transaction(s)");
        screenshot("03-transactions");

        // The stuck one: why (the dirty row), its branch and its locks, and what can be done.
        browser.findElement(By.cssSelector("a[data-xid='" + dirty + "']")).click();
        awaitText(By.id("status"), "ROLLBACK_FAILED");
        assertThat(text(By.id("reason"))).contains("account pk 3").contains("balance=999.00 (expected 301.00)");
        assertThat(text(By.id("branches"))).contains("/rm_console_").contains("PHASE2_ROLLBACK_FAILED_DIRTY")
                .contains("account:3").contains(String.valueOf(onlyBranchId(dirty))); // 64-bit ids shown exactly
        // The rollback was sent to the branch at least once (a dirty write is not retried): attempts are shown.
        assertThat(Integer.parseInt(text(By.cssSelector("#branches td.attempts")))).isGreaterThanOrEqualTo(1);
        assertThat(text(By.id("tx-locks"))).contains("account").contains(dirty);
        screenshot("04-dirty-write");

        // The client token may look but not change.
        browser.findElement(By.id("action-retry")).click();
        assertThat(await(By.id("confirm-text")).getText()).contains("Fix what made it fail first");
        browser.findElement(By.id("confirm-ok")).click();
        awaitText(By.id("error"), "admin token");

        // The admin fixes the row as the transaction left it, signs in as admin and retries.
        PgFixture.exec(raw, "UPDATE account SET balance = 301.00 WHERE id = 3");
        browser.findElement(By.id("sign-out")).click();
        signIn(ADMIN_TOKEN);
        open("/console/index.html#/transaction/" + dirty);
        awaitText(By.id("status"), "ROLLBACK_FAILED");
        browser.findElement(By.id("action-retry")).click();
        browser.findElement(By.id("confirm-ok")).click();
        awaitUntil(d -> {
            d.navigate().refresh();
            return !d.findElements(By.cssSelector("#status .ROLLBACKED")).isEmpty();
        });
        assertThat(PgFixture.rows(raw, "account WHERE id = 3", "id"))
                .containsExactly(List.of("id=3", "owner=cy", "balance=300.00"));
        assertThat(text(By.id("tx-locks"))).isEqualTo("None.");
        // The timeline, from the store's history: every status of the transaction in order with who moved
        // it (the failed retry with the client token changed nothing, so it is not there), and its branch.
        List<String> steps = awaitUntil(d -> d.findElements(By.cssSelector("#timeline li")).stream()
                .filter(li -> "0".equals(li.getAttribute("data-branch")))
                .map(li -> li.getAttribute("data-status") + " " + li.getAttribute("data-cause")).toList());
        assertThat(steps).containsExactly("BEGIN TM", "ROLLBACKING TM", "ROLLBACK_FAILED TC",
                "ROLLBACK_RETRYING OPERATOR", "ROLLBACKED TC");
        assertThat(text(By.cssSelector("#timeline li[data-status=ROLLBACK_RETRYING]")))
                .contains("by an operator").contains("retry requested by admin from 127.0.0.1 over REST");
        List<String> branchSteps = browser.findElements(By.cssSelector("#timeline li")).stream()
                .filter(li -> !"0".equals(li.getAttribute("data-branch")))
                .map(li -> li.getAttribute("data-status")).toList();
        assertThat(branchSteps).containsExactly("REGISTERED", "PHASE2_ROLLBACK_FAILED_DIRTY", "PHASE2_ROLLBACKED");
        screenshot("05-retried");

        // Heuristic evidence is shown plainly, with the branch that waits for its RM.
        open("/console/index.html#/transaction/" + heuristic);
        awaitText(By.id("heuristic"), "committed by its RM on its own");
        assertThat(text(By.id("branches"))).contains("/rm_console_b_");
        screenshot("06-heuristic");

        // Locks and RMs.
        open("/console/index.html#/locks");
        awaitText(By.id("locks"), running);
        assertThat(text(By.id("total"))).startsWith("2 lock(s)"); // the running one and the heuristic one's
        screenshot("07-locks");
        open("/console/index.html#/rms");
        awaitText(By.id("rms"), "console-rm");
        screenshot("08-rms");
    }

    // ---- the transactions ----

    private TcClientConfig config(String applicationId) {
        return new TcClientConfig(tc.grpcAddress(), applicationId, CLIENT_TOKEN, Duration.ofSeconds(5), 3,
                Duration.ofMillis(100));
    }

    /** Begins a global transaction named {@code name} and sets one account's balance in it (AT mode). */
    private String update(String name, long id, String balance) throws Exception {
        String xid = tm.begin(name, Duration.ofMinutes(5), TransactionProtocol.TWO_PHASE);
        String previous = XidContext.bind(xid);
        try (Connection c = ds.getConnection()) {
            c.createStatement().executeUpdate("UPDATE account SET balance = " + balance + " WHERE id = " + id);
        } finally {
            XidContext.restore(previous);
        }
        return xid;
    }

    private long onlyBranchId(String xid) throws Exception {
        HttpResponse<String> detail = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(
                        "http://127.0.0.1:" + tc.httpPort() + "/api/v1/transactions/" + xid))
                .header("Authorization", "Bearer " + CLIENT_TOKEN).build(), HttpResponse.BodyHandlers.ofString());
        Matcher m = Pattern.compile("\"branchId\"\\s*:\\s*(\\d+)").matcher(detail.body());
        assertThat(m.find()).as("a branch in " + detail.body()).isTrue();
        return Long.parseLong(m.group(1));
    }

    /** Waits until the TC stops driving {@code xid}; its status then. */
    private GlobalStatus end(GlobalStatusCode statusAfterCall, String xid) {
        long deadline = System.nanoTime() + UI_WAIT.toNanos();
        GlobalStatus status = GlobalStatus.fromWire(statusAfterCall);
        while (!status.isEnded() && System.nanoTime() < deadline) {
            TcHarness.sleep(10);
            status = GlobalStatus.fromWire(tm.status(xid).getStatus());
        }
        return status;
    }

    // ---- the browser ----

    private void open(String path) {
        browser.get("http://127.0.0.1:" + tc.httpPort() + path);
    }

    private void signIn(String token) {
        WebElement input = await(By.id("token"));
        input.clear();
        input.sendKeys(token);
        browser.findElement(By.id("signin-button")).click();
    }

    /** Waits until the transactions table lists exactly these (in any order). */
    private void awaitRows(String... xids) {
        awaitUntil(d -> d.findElements(By.cssSelector("#transactions tbody tr")).stream()
                .map(r -> r.getAttribute("data-xid")).sorted().toList()
                .equals(Stream.of(xids).sorted().toList()) ? true : null);
    }

    private String text(By by) {
        return awaitUntil(d -> d.findElement(by).getText());
    }

    private WebElement await(By by) {
        return awaitUntil(d -> d.findElements(by).stream().filter(WebElement::isDisplayed).findFirst().orElse(null));
    }

    private void awaitText(By by, String expected) {
        awaitUntil(d -> d.findElements(by).stream().anyMatch(e -> e.getText().contains(expected)) ? true : null);
    }

    private <T> T awaitUntil(Function<WebDriver, T> condition) {
        // The overview redraws every 2 s and every route change redraws the page: an element found
        // a moment ago may be gone, so a stale one means "look again".
        return new WebDriverWait(browser, UI_WAIT, Duration.ofMillis(50))
                .ignoring(StaleElementReferenceException.class).until(condition::apply);
    }

    private void screenshot(String name) throws IOException {
        Path shot = ((TakesScreenshot) browser).getScreenshotAs(OutputType.FILE).toPath();
        Files.copy(shot, SCREENSHOTS.resolve(name + ".png"), StandardCopyOption.REPLACE_EXISTING);
    }
}
