package io.cohort.sample.bank;

import java.util.List;
import org.springframework.data.jpa.repository.JpaRepository;
import org.springframework.data.jpa.repository.Modifying;
import org.springframework.data.jpa.repository.Query;
import org.springframework.data.repository.query.Param;

/**
 * Accounts. Balances change only through the two single-statement updates below: the database
 * checks and changes the balance in one step, so concurrent transfers never lose an update
 * (a read-modify-write through the entity would need a row lock to be safe).
 */
public interface AccountRepository extends JpaRepository<Account, Long> {

    /** Takes {@code amount} if the balance covers it; 1 if done, 0 if the account is unknown or short. */
    @Modifying
    @Query("update Account a set a.balance = a.balance - :amount where a.id = :id and a.balance >= :amount")
    int debit(@Param("id") long id, @Param("amount") long amount);

    /** Adds {@code amount}; 1 if done, 0 if the account is unknown. */
    @Modifying
    @Query("update Account a set a.balance = a.balance + :amount where a.id = :id")
    int credit(@Param("id") long id, @Param("amount") long amount);

    List<Account> findAllByOrderByIdAsc();

    @Query("select coalesce(sum(a.balance), 0) from Account a")
    long total();

    @Query("select count(a) from Account a where a.balance < 0")
    long countNegative();
}
