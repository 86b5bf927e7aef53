;; liquidity-pool-vault
;;
;; Holds liquidity providers' STX in three risk tiers ("Conservative", "Balanced", "Aggressive") and backs the
;; policies of the policy registry with it.
;;
;; Accounting per tier:
;;   capital-ustx   every micro-STX the tier owns (deposits + premiums - withdrawals - settlements);
;;                  the sum over the tiers equals the vault's STX balance.
;;   locked-ustx    the part of capital that backs active policies (collateral); free = capital - locked.
;;   total-shares   providers own the tier through shares. Premiums raise capital without minting shares, so
;;                  they accrue to the tier's providers pro rata; settlements lower capital, so losses are shared
;;                  pro rata too. Share value uses a virtual offset of one share and one micro-STX
;;                  (value = shares * (capital + 1) / (total-shares + 1)), which keeps the price defined when a
;;                  tier is empty or was emptied by settlements. Rounding always favours the pool: minted shares
;;                  round down, burned shares round up.
;;
;; Only the registry contract (`.policy-registry`, checked through `contract-caller`) may lock, pay, release
;; collateral or book premiums. Anyone may deposit; a provider may withdraw at most the value of their own
;; shares, and only out of the tier's free capital.

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

(define-map tiers
  { tier: (string-ascii 12) }
  {
    capital-ustx: uint,
    locked-ustx: uint,
    total-shares: uint,
    premiums-ustx: uint,
    settlements-ustx: uint,
  }
)

(define-map provider-shares
  {
    tier: (string-ascii 12),
    provider: principal,
  }
  uint
)

;; Collateral still locked for a policy (remaining after any settlement payment).
(define-map policy-locks
  { policy-id: uint }
  {
    tier: (string-ascii 12),
    amount-ustx: uint,
  }
)

(define-constant EMPTY-TIER {
  capital-ustx: u0,
  locked-ustx: u0,
  total-shares: u0,
  premiums-ustx: u0,
  settlements-ustx: u0,
})

(map-set tiers { tier: "Conservative" } EMPTY-TIER)
(map-set tiers { tier: "Balanced" } EMPTY-TIER)
(map-set tiers { tier: "Aggressive" } EMPTY-TIER)

;; ---------------------------------------------------------------------------------------------------------
;; private helpers

(define-private (shares-for-deposit
    (amount uint)
    (capital uint)
    (total-shares uint)
  )
  (/ (* amount (+ total-shares u1)) (+ capital u1))
)

(define-private (shares-for-withdrawal
    (amount uint)
    (capital uint)
    (total-shares uint)
  )
  (let ((numerator (* amount (+ total-shares u1))))
    (/ (+ numerator capital) (+ capital u1))
  )
)

(define-private (value-of-shares
    (shares uint)
    (capital uint)
    (total-shares uint)
  )
  (/ (* shares (+ capital u1)) (+ total-shares u1))
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

;; ---------------------------------------------------------------------------------------------------------
;; providers

(define-public (deposit
    (tier (string-ascii 12))
    (amount-ustx uint)
  )
  (let (
      (provider tx-sender)
      (totals (unwrap! (map-get? tiers { tier: tier }) ERR-INVALID-TIER))
      (capital (get capital-ustx totals))
      (total-shares (get total-shares totals))
      (minted (shares-for-deposit amount-ustx capital total-shares))
      (held (default-to u0 (map-get? provider-shares {
        tier: tier,
        provider: provider,
      })))
    )
    (asserts! (> amount-ustx u0) ERR-INVALID-AMOUNT)
    (asserts! (> minted u0) ERR-DEPOSIT-TOO-SMALL)
    (unwrap! (stx-transfer? amount-ustx provider current-contract)
      ERR-STX-TRANSFER-FAILED
    )
    (map-set tiers { tier: tier }
      (merge totals {
        capital-ustx: (+ capital amount-ustx),
        total-shares: (+ total-shares minted),
      })
    )
    (map-set provider-shares {
      tier: tier,
      provider: provider,
    }
      (+ held minted)
    )
    (print {
      event: "funds-deposited",
      tier: tier,
      provider: provider,
      amount-ustx: amount-ustx,
      shares: minted,
      tier-capital-ustx: (+ capital amount-ustx),
      tier-total-shares: (+ total-shares minted),
    })
    (ok minted)
  )
)

(define-public (withdraw
    (tier (string-ascii 12))
    (amount-ustx uint)
  )
  (let (
      (provider tx-sender)
      (totals (unwrap! (map-get? tiers { tier: tier }) ERR-INVALID-TIER))
      (capital (get capital-ustx totals))
      (locked (get locked-ustx totals))
      (total-shares (get total-shares totals))
      (burned (shares-for-withdrawal amount-ustx capital total-shares))
      (held (default-to u0 (map-get? provider-shares {
        tier: tier,
        provider: provider,
      })))
    )
    (asserts! (> amount-ustx u0) ERR-INVALID-AMOUNT)
    (asserts! (<= burned held) ERR-INSUFFICIENT-SHARES)
    (asserts! (<= amount-ustx (- capital locked)) ERR-INSUFFICIENT-FREE-CAPITAL)
    (try! (pay-out amount-ustx provider))
    (map-set tiers { tier: tier }
      (merge totals {
        capital-ustx: (- capital amount-ustx),
        total-shares: (- total-shares burned),
      })
    )
    (map-set provider-shares {
      tier: tier,
      provider: provider,
    }
      (- held burned)
    )
    (print {
      event: "funds-withdrawn",
      tier: tier,
      provider: provider,
      amount-ustx: amount-ustx,
      shares: burned,
      tier-capital-ustx: (- capital amount-ustx),
      tier-total-shares: (- total-shares burned),
    })
    (ok burned)
  )
)

;; ---------------------------------------------------------------------------------------------------------
;; registry-only bookkeeping

(define-public (lock-collateral
    (policy-id uint)
    (tier (string-ascii 12))
    (amount-ustx uint)
  )
  ;; The caller check is the first binding so that it precedes every lookup (here and below).
  (let (
      (authorized (asserts! (is-eq contract-caller REGISTRY) ERR-NOT-AUTHORIZED))
      (totals (unwrap! (map-get? tiers { tier: tier }) ERR-INVALID-TIER))
      (capital (get capital-ustx totals))
      (locked (get locked-ustx totals))
    )
    (asserts! (> amount-ustx u0) ERR-INVALID-AMOUNT)
    (asserts! (<= amount-ustx (- capital locked)) ERR-INSUFFICIENT-FREE-CAPITAL)
    (asserts!
      (map-insert policy-locks { policy-id: policy-id } {
        tier: tier,
        amount-ustx: amount-ustx,
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

;; Takes the premium from the buyer (`tx-sender` of the registry call) into the tier's capital.
(define-public (receive-premium
    (policy-id uint)
    (tier (string-ascii 12))
    (amount-ustx uint)
  )
  (let (
      (authorized (asserts! (is-eq contract-caller REGISTRY) ERR-NOT-AUTHORIZED))
      (payer tx-sender)
      (totals (unwrap! (map-get? tiers { tier: tier }) ERR-INVALID-TIER))
      (capital (get capital-ustx totals))
    )
    (asserts! (> amount-ustx u0) ERR-INVALID-AMOUNT)
    (unwrap! (stx-transfer? amount-ustx payer current-contract)
      ERR-STX-TRANSFER-FAILED
    )
    (map-set tiers { tier: tier }
      (merge totals {
        capital-ustx: (+ capital amount-ustx),
        premiums-ustx: (+ (get premiums-ustx totals) amount-ustx),
      })
    )
    (print {
      event: "premium-received",
      policy-id: policy-id,
      tier: tier,
      payer: payer,
      amount-ustx: amount-ustx,
      tier-capital-ustx: (+ capital amount-ustx),
    })
    (ok true)
  )
)

;; Pays `amount-ustx` of a policy's locked collateral to `recipient`; the tier's capital bears the loss.
(define-public (pay-settlement
    (policy-id uint)
    (amount-ustx uint)
    (recipient principal)
  )
  (let (
      (authorized (asserts! (is-eq contract-caller REGISTRY) ERR-NOT-AUTHORIZED))
      (lock (unwrap! (map-get? policy-locks { policy-id: policy-id }) ERR-LOCK-NOT-FOUND))
      (tier (get tier lock))
      (totals (unwrap! (map-get? tiers { tier: tier }) ERR-INVALID-TIER))
    )
    (asserts! (> amount-ustx u0) ERR-INVALID-AMOUNT)
    (asserts! (<= amount-ustx (get amount-ustx lock)) ERR-EXCEEDS-LOCKED-COLLATERAL)
    (try! (pay-out amount-ustx recipient))
    (map-set policy-locks { policy-id: policy-id }
      (merge lock { amount-ustx: (- (get amount-ustx lock) amount-ustx) })
    )
    (map-set tiers { tier: tier }
      (merge totals {
        capital-ustx: (- (get capital-ustx totals) amount-ustx),
        locked-ustx: (- (get locked-ustx totals) amount-ustx),
        settlements-ustx: (+ (get settlements-ustx totals) amount-ustx),
      })
    )
    (print {
      event: "settlement-paid",
      policy-id: policy-id,
      tier: tier,
      recipient: recipient,
      amount-ustx: amount-ustx,
    })
    (ok true)
  )
)

;; Returns whatever collateral the policy still has locked to its tier's free capital and forgets the lock.
(define-public (release-collateral (policy-id uint))
  (let (
      (authorized (asserts! (is-eq contract-caller REGISTRY) ERR-NOT-AUTHORIZED))
      (lock (unwrap! (map-get? policy-locks { policy-id: policy-id }) ERR-LOCK-NOT-FOUND))
      (tier (get tier lock))
      (amount (get amount-ustx lock))
      (totals (unwrap! (map-get? tiers { tier: tier }) ERR-INVALID-TIER))
    )
    (map-delete policy-locks { policy-id: policy-id })
    (map-set tiers { tier: tier }
      (merge totals { locked-ustx: (- (get locked-ustx totals) amount) })
    )
    (print {
      event: "collateral-released",
      policy-id: policy-id,
      tier: tier,
      amount-ustx: amount,
      tier-locked-ustx: (- (get locked-ustx totals) amount),
    })
    (ok amount)
  )
)

;; ---------------------------------------------------------------------------------------------------------
;; read-only

(define-read-only (get-tier (tier (string-ascii 12)))
  (let ((totals (unwrap! (map-get? tiers { tier: tier }) ERR-INVALID-TIER)))
    (ok (merge totals { free-ustx: (- (get capital-ustx totals) (get locked-ustx totals)) }))
  )
)

(define-read-only (get-provider-balance
    (tier (string-ascii 12))
    (provider principal)
  )
  (let (
      (totals (unwrap! (map-get? tiers { tier: tier }) ERR-INVALID-TIER))
      (shares (default-to u0 (map-get? provider-shares {
        tier: tier,
        provider: provider,
      })))
      (value (value-of-shares shares (get capital-ustx totals) (get total-shares totals)))
      (free (- (get capital-ustx totals) (get locked-ustx totals)))
    )
    (ok {
      shares: shares,
      value-ustx: value,
      withdrawable-ustx: (if (< value free)
        value
        free
      ),
    })
  )
)

(define-read-only (get-policy-lock (policy-id uint))
  (map-get? policy-locks { policy-id: policy-id })
)

(define-read-only (get-registry)
  REGISTRY
)
