;; liquidity-pool-vault
;;
;; Holds liquidity providers' STX in three risk tiers ("Conservative", "Balanced", "Aggressive") and backs the
;; policies of the policy registry with it. docs/provider-economics.md explains the accounting and why it is
;; fair; contracts/README.md lists the functions, errors and events.
;;
;; Accounting per tier:
;;   capital-ustx           STX the providers own: deposits - withdrawals - settlements + vested premiums.
;;   locked-ustx            the part of capital that backs open policies (collateral); free = capital - locked.
;;   pending-premiums-ustx  premiums of open policies. A premium pays for risk that is still running, so it
;;                          vests into capital only when its policy closes (settled or expired).
;;   total-shares           providers own the tier through shares.
;;   STX balance of the vault = sum over tiers of (capital + pending premiums) + any STX sent to the vault
;;   directly (the surplus, counted by `get-surplus`, never part of a tier).
;;
;; Shares are priced two ways (a bid/ask NAV):
;;   a deposit buys at the ask,     (capital + pending premiums) / shares: the tier's best case;
;;   a withdrawal sells at the bid, (capital - locked) / shares: the tier's worst case.
;; Neither can lower the bid or the ask value of anybody else's shares, and policy events change every share
;; alike, so no deposit or withdrawal timed around a policy event takes value from the other providers.
;;
;; Share math stays inside 128 bits at every reachable state: amounts are at most 2^51 uSTX (more than all STX
;; that exists), a fresh tier mints 10^6 shares per uSTX, and the share count is kept at most 2^24 shares per
;; uSTX of ask value by consolidating shares (2^24 old shares become one) when losses have driven the price
;; below that. A tier whose value is gone (no capital, no pending premium) starts over with no shares.
;;
;; Only the registry contract (`.policy-registry`, checked through `contract-caller`) may lock, pay, release
;; collateral, book premiums or sweep the surplus. Providers act through `contract-caller` too, so a contract a
;; provider calls cannot move the provider's shares.

(define-constant REGISTRY .policy-registry)

(define-constant ERR-NOT-AUTHORIZED (err u200))
(define-constant ERR-INVALID-TIER (err u201))
(define-constant ERR-INVALID-AMOUNT (err u202))
(define-constant ERR-INSUFFICIENT-FREE-CAPITAL (err u203))
(define-constant ERR-INSUFFICIENT-SHARES (err u204))
(define-constant ERR-EXCEEDS-LOCKED-COLLATERAL (err u205))
(define-constant ERR-STX-TRANSFER-FAILED (err u206))
(define-constant ERR-LOCK-EXISTS (err u207))
(define-constant ERR-LOCK-NOT-FOUND (err u208))
(define-constant ERR-DEPOSIT-TOO-SMALL (err u209))
(define-constant ERR-PREMIUM-EXCEEDS-COLLATERAL (err u210))
(define-constant ERR-SHARES-BACK-OPEN-POLICIES (err u211))
(define-constant ERR-NO-SURPLUS (err u212))

;; More uSTX than will ever exist (the STX supply stays below 1.82e15 uSTX < 2^51): no real amount is refused.
(define-constant MAX-USTX u2251799813685248)
;; Shares a fresh tier mints per uSTX: fine-grained enough that rounding a deposit down to whole shares costs
;; the depositor less than a micro-STX even after the share price has grown a million times.
(define-constant SHARES-PER-USTX u1000000)
;; At most 2^24 shares per uSTX of ask value; beyond it, 2^24 shares are consolidated into one.
(define-constant CONSOLIDATION-BITS u24)
(define-constant CONSOLIDATION-FACTOR u16777216)
;; A provider's shares from `n` consolidations ago are worth shares / 2^(24 n); from 5 or more ago, nothing.
(define-constant MAX-EPOCH-GAP u5)

(define-map tiers
  { tier: (string-ascii 12) }
  {
    capital-ustx: uint,
    locked-ustx: uint,
    pending-premiums-ustx: uint,
    total-shares: uint,
    share-epoch: uint,
    premiums-ustx: uint,
    settlements-ustx: uint,
  }
)

;; A provider's shares, counted in the units of the tier's `share-epoch` at the time of writing.
(define-map provider-shares
  {
    tier: (string-ascii 12),
    provider: principal,
  }
  {
    shares: uint,
    epoch: uint,
  }
)

;; Per open policy: the collateral still locked (after any settlement payment) and its premium, still pending.
(define-map policy-locks
  { policy-id: uint }
  {
    tier: (string-ascii 12),
    amount-ustx: uint,
    premium-ustx: uint,
  }
)

(define-constant EMPTY-TIER {
  capital-ustx: u0,
  locked-ustx: u0,
  pending-premiums-ustx: u0,
  total-shares: u0,
  share-epoch: u0,
  premiums-ustx: u0,
  settlements-ustx: u0,
})

(map-set tiers { tier: "Conservative" } EMPTY-TIER)
(map-set tiers { tier: "Balanced" } EMPTY-TIER)
(map-set tiers { tier: "Aggressive" } EMPTY-TIER)

;; ---------------------------------------------------------------------------------------------------------
;; share math

(define-private (ask-value-of (totals {
  capital-ustx: uint,
  locked-ustx: uint,
  pending-premiums-ustx: uint,
  total-shares: uint,
  share-epoch: uint,
  premiums-ustx: uint,
  settlements-ustx: uint,
}))
  (+ (get capital-ustx totals) (get pending-premiums-ustx totals))
)

(define-private (bid-value-of (totals {
  capital-ustx: uint,
  locked-ustx: uint,
  pending-premiums-ustx: uint,
  total-shares: uint,
  share-epoch: uint,
  premiums-ustx: uint,
  settlements-ustx: uint,
}))
  (- (get capital-ustx totals) (get locked-ustx totals))
)

;; One consolidation step, when the tier holds more than 2^24 shares per uSTX of ask value.
(define-private (consolidate-step
    (step uint)
    (totals {
      capital-ustx: uint,
      locked-ustx: uint,
      pending-premiums-ustx: uint,
      total-shares: uint,
      share-epoch: uint,
      premiums-ustx: uint,
      settlements-ustx: uint,
    })
  )
  (if (> (get total-shares totals) (* (ask-value-of totals) CONSOLIDATION-FACTOR))
    (merge totals {
      total-shares: (/ (get total-shares totals) CONSOLIDATION-FACTOR),
      share-epoch: (+ (get share-epoch totals) u1),
    })
    totals
  )
)

;; The tier with its share count inside the bounds (pure: reads use it as they are, writes store it).
;; Only a settlement lowers the ask value without burning shares, so the bound can only be broken by one; the
;; share count is then at most 2^75 (2^24 per uSTX of a 2^51 value) and three steps always restore it.
(define-private (normalized (totals {
  capital-ustx: uint,
  locked-ustx: uint,
  pending-premiums-ustx: uint,
  total-shares: uint,
  share-epoch: uint,
  premiums-ustx: uint,
  settlements-ustx: uint,
}))
  (if (and (> (get total-shares totals) u0) (is-eq (ask-value-of totals) u0))
    ;; Nothing left (no capital, hence nothing locked, and no pending premium): the old shares are worthless.
    (merge totals {
      total-shares: u0,
      share-epoch: (+ (get share-epoch totals) MAX-EPOCH-GAP),
    })
    (fold consolidate-step (list u1 u2 u3) totals)
  )
)

;; A provider's shares in the units of `epoch` (the tier's current one); rounding down favours the pool.
(define-private (shares-in-epoch
    (held {
      shares: uint,
      epoch: uint,
    })
    (epoch uint)
  )
  (let ((gap (- epoch (get epoch held))))
    (if (>= gap MAX-EPOCH-GAP)
      u0
      (/ (get shares held) (pow u2 (* CONSOLIDATION-BITS gap)))
    )
  )
)

(define-private (held-shares
    (tier (string-ascii 12))
    (provider principal)
    (epoch uint)
  )
  (match (map-get? provider-shares {
    tier: tier,
    provider: provider,
  })
    held (shares-in-epoch held epoch)
    u0
  )
)

;; floor(shares x value / total-shares): what `shares` are worth at a tier value (bid or ask).
(define-private (value-of-shares
    (shares uint)
    (value uint)
    (total-shares uint)
  )
  (if (is-eq total-shares u0)
    u0
    (/ (* shares value) total-shares)
  )
)

(define-private (pay-out
    (amount uint)
    (recipient principal)
  )
  ;; The allowance caps the STX this call can move out of the vault at exactly `amount`.
  (as-contract? ((with-stx amount))
    (unwrap! (stx-transfer? amount current-contract recipient)
      ERR-STX-TRANSFER-FAILED
    ))
)

(define-private (tier-totals (tier (string-ascii 12)))
  (map-get? tiers { tier: tier })
)

;; ---------------------------------------------------------------------------------------------------------
;; providers

;; Buys shares at the ask: floor(amount x shares / (capital + pending premiums)), or 10^6 per uSTX in a tier
;; without shares. STX come from `contract-caller`, who gets the shares (a contract deposits for itself).
(define-public (deposit
    (tier (string-ascii 12))
    (amount-ustx uint)
  )
  (let (
      (provider contract-caller)
      (totals (normalized (unwrap! (tier-totals tier) ERR-INVALID-TIER)))
      (value (ask-value-of totals))
      (total-shares (get total-shares totals))
      (epoch (get share-epoch totals))
    )
    (asserts!
      (and (> amount-ustx u0) (<= amount-ustx MAX-USTX) (<= value (- MAX-USTX amount-ustx)))
      ERR-INVALID-AMOUNT
    )
    (let (
        (minted (if (is-eq total-shares u0)
          (* amount-ustx SHARES-PER-USTX)
          (/ (* amount-ustx total-shares) value)
        ))
        (held (held-shares tier provider epoch))
      )
      (asserts! (> minted u0) ERR-DEPOSIT-TOO-SMALL)
      (unwrap! (stx-transfer? amount-ustx provider current-contract)
        ERR-STX-TRANSFER-FAILED
      )
      (map-set tiers { tier: tier }
        (merge totals {
          capital-ustx: (+ (get capital-ustx totals) amount-ustx),
          total-shares: (+ total-shares minted),
        })
      )
      (map-set provider-shares {
        tier: tier,
        provider: provider,
      } {
        shares: (+ held minted),
        epoch: epoch,
      })
      (print {
        event: "funds-deposited",
        tier: tier,
        provider: provider,
        amount-ustx: amount-ustx,
        shares: minted,
        tier-capital-ustx: (+ (get capital-ustx totals) amount-ustx),
        tier-total-shares: (+ total-shares minted),
      })
      (ok minted)
    )
  )
)

;; Sells shares at the bid: burns ceil(amount x shares / (capital - locked)) of `contract-caller`'s shares and
;; pays `amount-ustx` out of free capital. Burning the tier's last shares pays all its free capital, and is
;; refused while the tier backs open policies (their collateral and premiums would be left without owner).
(define-public (withdraw
    (tier (string-ascii 12))
    (amount-ustx uint)
  )
  (let (
      (provider contract-caller)
      (totals (normalized (unwrap! (tier-totals tier) ERR-INVALID-TIER)))
      (free (bid-value-of totals))
      (total-shares (get total-shares totals))
      (epoch (get share-epoch totals))
      (held (held-shares tier provider epoch))
    )
    (asserts! (> amount-ustx u0) ERR-INVALID-AMOUNT)
    (asserts! (<= amount-ustx free) ERR-INSUFFICIENT-FREE-CAPITAL)
    (let (
        (burned (/ (+ (* amount-ustx total-shares) (- free u1)) free))
        (last (is-eq burned total-shares))
        (paid (if last
          free
          amount-ustx
        ))
      )
      (asserts! (<= burned held) ERR-INSUFFICIENT-SHARES)
      (asserts!
        (or
          (not last)
          (and (is-eq (get locked-ustx totals) u0) (is-eq (get pending-premiums-ustx totals) u0))
        )
        ERR-SHARES-BACK-OPEN-POLICIES
      )
      (try! (pay-out paid provider))
      (map-set tiers { tier: tier }
        (merge totals {
          capital-ustx: (- (get capital-ustx totals) paid),
          total-shares: (- total-shares burned),
        })
      )
      (map-set provider-shares {
        tier: tier,
        provider: provider,
      } {
        shares: (- held burned),
        epoch: epoch,
      })
      (print {
        event: "funds-withdrawn",
        tier: tier,
        provider: provider,
        amount-ustx: paid,
        shares: burned,
        tier-capital-ustx: (- (get capital-ustx totals) paid),
        tier-total-shares: (- total-shares burned),
      })
      (ok burned)
    )
  )
)

;; ---------------------------------------------------------------------------------------------------------
;; registry-only bookkeeping: each public function checks its caller first, then runs its `-for-policy` body

(define-private (lock-for-policy
    (policy-id uint)
    (tier (string-ascii 12))
    (amount-ustx uint)
  )
  (let (
      (totals (unwrap! (tier-totals tier) ERR-INVALID-TIER))
      (locked (get locked-ustx totals))
    )
    (asserts! (> amount-ustx u0) ERR-INVALID-AMOUNT)
    (asserts! (<= amount-ustx (bid-value-of totals)) ERR-INSUFFICIENT-FREE-CAPITAL)
    (asserts!
      (map-insert policy-locks { policy-id: policy-id } {
        tier: tier,
        amount-ustx: amount-ustx,
        premium-ustx: u0,
      })
      ERR-LOCK-EXISTS
    )
    (map-set tiers { tier: tier }
      (merge totals { locked-ustx: (+ locked amount-ustx) })
    )
    (print {
      event: "collateral-locked",
      policy-id: policy-id,
      tier: tier,
      amount-ustx: amount-ustx,
      tier-locked-ustx: (+ locked amount-ustx),
    })
    (ok true)
  )
)

(define-private (premium-for-policy
    (policy-id uint)
    (tier (string-ascii 12))
    (amount-ustx uint)
    (payer principal)
  )
  (let (
      (totals (unwrap! (tier-totals tier) ERR-INVALID-TIER))
      (lock (unwrap! (map-get? policy-locks { policy-id: policy-id }) ERR-LOCK-NOT-FOUND))
    )
    (asserts! (> amount-ustx u0) ERR-INVALID-AMOUNT)
    (asserts! (is-eq (get tier lock) tier) ERR-INVALID-TIER)
    (asserts! (is-eq (get premium-ustx lock) u0) ERR-LOCK-EXISTS)
    (asserts! (<= amount-ustx (get amount-ustx lock)) ERR-PREMIUM-EXCEEDS-COLLATERAL)
    (let ((pending (+ (get pending-premiums-ustx totals) amount-ustx)))
    (unwrap! (stx-transfer? amount-ustx payer current-contract)
      ERR-STX-TRANSFER-FAILED
    )
    (map-set policy-locks { policy-id: policy-id }
      (merge lock { premium-ustx: amount-ustx })
    )
    (map-set tiers { tier: tier }
      (merge totals {
        pending-premiums-ustx: pending,
        premiums-ustx: (+ (get premiums-ustx totals) amount-ustx),
      })
    )
    (print {
      event: "premium-received",
      policy-id: policy-id,
      tier: tier,
      payer: payer,
      amount-ustx: amount-ustx,
      tier-capital-ustx: (get capital-ustx totals),
      tier-pending-premiums-ustx: pending,
    })
    (ok true)
  ))
)

(define-private (settle-for-policy
    (policy-id uint)
    (amount-ustx uint)
    (recipient principal)
  )
  (let (
      (lock (unwrap! (map-get? policy-locks { policy-id: policy-id }) ERR-LOCK-NOT-FOUND))
      (tier (get tier lock))
      (totals (unwrap! (tier-totals tier) ERR-INVALID-TIER))
    )
    (asserts! (> amount-ustx u0) ERR-INVALID-AMOUNT)
    (asserts! (<= amount-ustx (get amount-ustx lock)) ERR-EXCEEDS-LOCKED-COLLATERAL)
    ;; The lock is part of the tier's locked collateral, itself part of its capital: neither goes negative.
    (let (
      (capital (- (get capital-ustx totals) amount-ustx))
      (locked (- (get locked-ustx totals) amount-ustx))
    )
    (try! (pay-out amount-ustx recipient))
    (map-set policy-locks { policy-id: policy-id }
      (merge lock { amount-ustx: (- (get amount-ustx lock) amount-ustx) })
    )
    (map-set tiers { tier: tier }
      (merge totals {
        capital-ustx: capital,
        locked-ustx: locked,
        settlements-ustx: (+ (get settlements-ustx totals) amount-ustx),
      })
    )
    (print {
      event: "settlement-paid",
      policy-id: policy-id,
      tier: tier,
      recipient: recipient,
      amount-ustx: amount-ustx,
      tier-capital-ustx: capital,
      tier-locked-ustx: locked,
    })
    (ok true)
  ))
)

(define-private (release-for-policy (policy-id uint))
  (let (
      (lock (unwrap! (map-get? policy-locks { policy-id: policy-id }) ERR-LOCK-NOT-FOUND))
      (tier (get tier lock))
      (amount (get amount-ustx lock))
      (premium (get premium-ustx lock))
      (totals (unwrap! (tier-totals tier) ERR-INVALID-TIER))
      (locked (- (get locked-ustx totals) amount))
      (capital (+ (get capital-ustx totals) premium))
      (pending (- (get pending-premiums-ustx totals) premium))
    )
    (map-delete policy-locks { policy-id: policy-id })
    (map-set tiers { tier: tier }
      (merge totals {
        capital-ustx: capital,
        locked-ustx: locked,
        pending-premiums-ustx: pending,
      })
    )
    (print {
      event: "collateral-released",
      policy-id: policy-id,
      tier: tier,
      amount-ustx: amount,
      tier-locked-ustx: locked,
      premium-vested-ustx: premium,
      tier-capital-ustx: capital,
      tier-pending-premiums-ustx: pending,
    })
    (ok amount)
  )
)

(define-public (lock-collateral
    (policy-id uint)
    (tier (string-ascii 12))
    (amount-ustx uint)
  )
  (begin
    (asserts! (is-eq contract-caller REGISTRY) ERR-NOT-AUTHORIZED)
    (lock-for-policy policy-id tier amount-ustx)
  )
)

;; Takes the premium from the buyer (`tx-sender` of the registry call: STX can only leave the transaction's
;; sender) and holds it pending until the policy closes. At most the policy's collateral (u210).
(define-public (receive-premium
    (policy-id uint)
    (tier (string-ascii 12))
    (amount-ustx uint)
  )
  (begin
    (asserts! (is-eq contract-caller REGISTRY) ERR-NOT-AUTHORIZED)
    (premium-for-policy policy-id tier amount-ustx tx-sender)
  )
)

;; Pays `amount-ustx` of a policy's locked collateral to `recipient`; the tier's capital bears the loss.
(define-public (pay-settlement
    (policy-id uint)
    (amount-ustx uint)
    (recipient principal)
  )
  (begin
    (asserts! (is-eq contract-caller REGISTRY) ERR-NOT-AUTHORIZED)
    (settle-for-policy policy-id amount-ustx recipient)
  )
)

;; Closes a policy: returns whatever collateral it still has locked to free capital, vests its premium into
;; capital and forgets the lock.
(define-public (release-collateral (policy-id uint))
  (begin
    (asserts! (is-eq contract-caller REGISTRY) ERR-NOT-AUTHORIZED)
    (release-for-policy policy-id)
  )
)

;; STX sent to the vault by a plain transfer belong to no tier. The registry's admin can send them on (back to
;; whoever sent them by mistake); tier money can never leave this way.
(define-public (sweep-surplus (recipient principal))
  (let (
      (authorized (asserts! (is-eq contract-caller REGISTRY) ERR-NOT-AUTHORIZED))
      (surplus (get-surplus))
    )
    (asserts! (> surplus u0) ERR-NO-SURPLUS)
    (try! (pay-out surplus recipient))
    (print {
      event: "surplus-swept",
      recipient: recipient,
      amount-ustx: surplus,
    })
    (ok surplus)
  )
)

;; ---------------------------------------------------------------------------------------------------------
;; read-only

(define-read-only (get-tier (tier (string-ascii 12)))
  (let ((totals (normalized (unwrap! (tier-totals tier) ERR-INVALID-TIER))))
    (ok (merge totals { free-ustx: (bid-value-of totals) }))
  )
)

;; value-ustx: the shares at the ask (their part of capital and pending premiums: what they are worth if every
;; open policy expires); withdrawable-ustx: the shares at the bid (their part of free capital).
(define-read-only (get-provider-balance
    (tier (string-ascii 12))
    (provider principal)
  )
  (let (
      (totals (normalized (unwrap! (tier-totals tier) ERR-INVALID-TIER)))
      (total-shares (get total-shares totals))
      (shares (held-shares tier provider (get share-epoch totals)))
    )
    (ok {
      shares: shares,
      value-ustx: (value-of-shares shares (ask-value-of totals) total-shares),
      withdrawable-ustx: (value-of-shares shares (bid-value-of totals) total-shares),
    })
  )
)

(define-read-only (get-policy-lock (policy-id uint))
  (map-get? policy-locks { policy-id: policy-id })
)

;; STX the vault holds beyond what its tiers account for: only plain transfers to the vault create it.
(define-read-only (get-surplus)
  (let (
      (c (unwrap-panic (tier-totals "Conservative")))
      (b (unwrap-panic (tier-totals "Balanced")))
      (a (unwrap-panic (tier-totals "Aggressive")))
    )
    (- (stx-get-balance current-contract)
      (+ (ask-value-of c) (ask-value-of b) (ask-value-of a))
    )
  )
)

(define-read-only (get-registry)
  REGISTRY
)
